#!/usr/bin/env node
// Docs and comments check: what the repository tells its readers must exist in it.
//   node scripts/check-links.mjs [root]        (default: this checkout; exit 1 on a problem)
// Run by tests/contracts/docs-links.test.mjs, so part of `make test`.
//
// 1. Every relative link in README.md, CONTRIBUTING.md and docs/*.md resolves to a file or
//    directory, and a `#fragment` to a heading of the target (GitHub's anchor rules).
// 2. Every repository path named in those files, or in a comment of a source file (.rs, .mjs,
//    .js, .sh, .py, .toml, Makefile, .ci/run), exists: a token that starts with a top-level
//    directory of the repository (crates/, src/, docs/, tests/, ...) or names a top-level
//    file. Tried from the root, from the file's package (nearest Cargo.toml or package.json)
//    and from the file's directory; `{a,b}` alternatives and `*` globs are expanded; tokens
//    with placeholders (`<route>`, `…`) and paths git ignores (build output) are skipped.
// 3. No tracked text file cites a document that is not in the repository or speaks of the
//    project's working history (issue numbers, "this stop", "this machine").
//
// Prints the counts of what it checked, then every problem as `file:line: message`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);

/** Top-level directories whose names start a repository path in prose and comments. */
const TOP_DIRS = ['crates', 'src', 'docs', 'tests', 'scripts', 'www', 'bench', 'fuzz', 'examples', 'demo', '.ci'];
/** Top-level files named bare in prose (`Cargo.toml`, ...). */
const TOP_FILES = [
  'Cargo.toml', 'Cargo.lock', 'Makefile', 'package.json', 'package-lock.json', 'size-budget.json',
  'wrangler.toml', 'wrangler.stats.toml', 'README.md', 'CONTRIBUTING.md',
];
const COMMENT_EXT = /\.(rs|mjs|js|sh|py|toml)$/;
const SKIP_DIRS = new Set(['node_modules', 'target', 'build', '.git', '.wrangler', '.tools', '.e2e', '.artifacts']);

// Phrases of a document outside the repository or of the project's working history. Built
// from parts so that this file does not match itself.
const md = (name) => new RegExp(`\\b${name}(\\.${'md'})?\\b`);
const FORBIDDEN = [
  [md('DESIGN'), 'cites a design document that is not in the repository'],
  [md('CONTRACTS'), 'cites a contracts document that is not in the repository'],
  [new RegExp(`\\b${'issue'}s? \\d+`, 'i'), 'speaks of an issue number: state the fact or reason instead'],
  [new RegExp(`\\b(this|last|next) ${'stop'}\\b`, 'i'), 'speaks of the working history ("stop")'],
  [new RegExp(`\\bthe ${'issue'}(['’]s| notes)\\b`, 'i'), 'speaks of the issue tracker: state the fact instead'],
  [new RegExp(`\\bthis (2-core |shared |loaded |busy )?${'machine'}\\b`, 'i'), 'says "this machine": name the machine (e.g. "a 2-core x86_64 machine") and the command'],
  [new RegExp(`\\bbefore the ${'work'} on\\b`, 'i'), 'speaks of the working history'],
];

/** Every file of the checkout git knows of (tracked, or new and not ignored). */
function listFiles(root) {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.split('\0').filter((f) => f && existsSync(join(root, f)));
  } catch {
    const files = [];
    const walk = (dir) => {
      for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
        if (SKIP_DIRS.has(e.name)) continue;
        const rel = dir ? `${dir}/${e.name}` : e.name;
        if (e.isDirectory()) walk(rel);
        else if (e.isFile()) files.push(rel);
      }
    };
    walk('');
    return files;
  }
}

/** Whether git ignores `rel` (a generated path such as build/ or fuzz/corpus/). */
function ignoredByGit(root, rel) {
  try {
    execFileSync('git', ['check-ignore', '-q', '--no-index', rel], { cwd: root, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`. */
export function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown file, with GitHub's `-1`, `-2` suffixes for repeats. */
function anchors(text) {
  const seen = new Map();
  const out = new Set();
  let fence = false;
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    if (fence) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    // Code spans keep their text (`<route>` included); HTML tags outside them are dropped.
    const text = m[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .split('`')
      .map((part, k) => (k % 2 ? part.replace(/[<>]/g, '') : part.replace(/<[^>]*>/g, '')))
      .join('');
    const base = slug(text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** `a/{b,c}.rs` -> [`a/b.rs`, `a/c.rs`] (one level of braces, repeated). */
function expandBraces(p) {
  const m = /\{([^{}]*)\}/.exec(p);
  if (!m) return [p];
  return m[1].split(',').flatMap((alt) => expandBraces(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
}

function globToRegExp(glob) {
  const esc = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*');
  return new RegExp(`^${esc}/?$`);
}

/** Candidate repository paths in a piece of text. */
function pathTokens(text) {
  const dirs = TOP_DIRS.map((d) => d.replace('.', '\\.')).join('|');
  const files = TOP_FILES.map((f) => f.replace(/\./g, '\\.')).join('|');
  const re = new RegExp(`(?<![\\w./@~$:-])(?:\\./)?((?:${dirs})/[\\w.\\-/*{},<>…]*|(?:${files})(?![\\w.-]))`, 'g');
  const out = [];
  for (const m of text.matchAll(re)) {
    let t = m[1].replace(/[.,:;)]+$/, '').replace(/:\d+(:\d+)?$/, '');
    // Placeholders (`<route>`, `…`) are patterns, not paths.
    if (/[<>…]/.test(t)) continue;
    if (t.includes('{') !== t.includes('}')) continue;
    out.push({ token: t, index: m.index });
  }
  return out;
}

/** Source comments of a file, as [lineNumber, text] pairs (a heuristic, not a parser). */
function comments(rel, text) {
  const out = [];
  const lines = text.split('\n');
  const slashes = /\.(rs|mjs|js)$/.test(rel);
  let block = false;
  lines.forEach((line, i) => {
    if (slashes) {
      let rest = line;
      if (block) {
        const end = rest.indexOf('*/');
        out.push([i + 1, end < 0 ? rest : rest.slice(0, end)]);
        if (end < 0) return;
        block = false;
        rest = rest.slice(end + 2);
      }
      const lc = rest.search(/(^|[^:])\/\//);
      const bc = rest.indexOf('/*');
      if (bc >= 0 && (lc < 0 || bc < lc)) {
        const end = rest.indexOf('*/', bc + 2);
        out.push([i + 1, end < 0 ? rest.slice(bc + 2) : rest.slice(bc + 2, end)]);
        if (end < 0) block = true;
      } else if (lc >= 0) {
        out.push([i + 1, rest.slice(lc).replace(/^[^/]?\/\//, '')]);
      }
    } else {
      const h = line.search(/(^|\s)#/);
      if (h >= 0 && !/^#!/.test(line)) out.push([i + 1, line.slice(h).replace(/^\s*#/, '')]);
    }
  });
  return out;
}

/** The markdown links of a file outside code: [lineNumber, target]. */
function mdLinks(text) {
  const out = [];
  let fence = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fence = !fence;
      return;
    }
    if (fence) return;
    const plain = line.replace(/`[^`]*`/g, '');
    for (const m of plain.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push([i + 1, m[1]]);
    const ref = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(plain);
    if (ref) out.push([i + 1, ref[1]]);
  });
  return out;
}

export function check(root = resolve(dirname(SELF), '..')) {
  root = resolve(root);
  const files = listFiles(root);
  const fileSet = new Set(files);
  const problems = [];
  const counts = { markdown_files: 0, links: 0, anchors: 0, paths: 0, comment_files: 0, comment_paths: 0, scanned_files: 0 };
  const report = (file, line, msg) => problems.push(`${file}:${line}: ${msg}`);
  const anchorCache = new Map();
  const anchorsOf = (rel) => {
    if (!anchorCache.has(rel)) anchorCache.set(rel, anchors(readFileSync(join(root, rel), 'utf8')));
    return anchorCache.get(rel);
  };
  const exists = (rel) => {
    if (rel.includes('*')) {
      const re = globToRegExp(rel.replace(/\/$/, ''));
      return files.some((f) => re.test(f) || re.test(dirname(f)));
    }
    return existsSync(join(root, rel));
  };
  // Where a path named in `file` may start: the root, its package, its directory.
  const bases = (file) => {
    const out = [''];
    let d = dirname(file);
    while (d && d !== '.') {
      if (fileSet.has(`${d}/Cargo.toml`) || fileSet.has(`${d}/package.json`)) {
        out.push(d);
        break;
      }
      d = dirname(d);
    }
    const own = dirname(file);
    if (own !== '.' && !out.includes(own)) out.push(own);
    return out;
  };
  // Missing link targets already reported, so a path in the link's text is not reported twice.
  const reported = new Set();
  const checkPath = (file, line, token, kind) => {
    for (const alt of expandBraces(token)) {
      const clean = alt.replace(/^\.\//, '');
      if (reported.has(`${file}:${line}:${clean.replace(/\/$/, '')}`)) continue;
      const found = bases(file).some((b) => exists(b ? `${b}/${clean}` : clean));
      counts[kind] += 1;
      if (!found && !ignoredByGit(root, clean)) report(file, line, `names ${alt}, which does not exist`);
    }
  };

  const isMarkdown = (f) => f === 'README.md' || f === 'CONTRIBUTING.md' || /^docs\/[^/]+\.md$/.test(f);
  const self = relative(root, SELF).split(sep).join('/');
  const selfTest = 'tests/contracts/docs-links.test.mjs';

  for (const file of files) {
    const abs = join(root, file);
    let text;
    try {
      if (statSync(abs).size > 4 << 20) continue;
      text = readFileSync(abs, 'utf8');
    } catch {
      continue;
    }
    if (text.includes('\0')) continue; // binary

    // 3. Outside documents and working history, in every text file.
    if (file !== self && file !== selfTest && !/(^|\/)(package-lock\.json|Cargo\.lock)$/.test(file)) {
      counts.scanned_files += 1;
      text.split('\n').forEach((l, i) => {
        for (const [re, why] of FORBIDDEN) if (re.test(l)) report(file, i + 1, `${why}: "${l.trim().slice(0, 120)}"`);
      });
    }

    if (isMarkdown(file)) {
      counts.markdown_files += 1;
      // 1. Relative links and their anchors.
      for (const [line, target] of mdLinks(text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        counts.links += 1;
        const [pathPart, frag] = target.split('#', 2);
        const rel = pathPart ? join(dirname(file), decodeURIComponent(pathPart)).split(sep).join('/') : file;
        if (pathPart && !existsSync(join(root, rel))) {
          report(file, line, `link to ${target}: ${rel} does not exist`);
          reported.add(`${file}:${line}:${rel.replace(/\/$/, '')}`);
          continue;
        }
        if (frag !== undefined && /\.md$/.test(rel)) {
          counts.anchors += 1;
          if (!anchorsOf(rel).has(frag)) report(file, line, `link to ${target}: no heading with anchor #${frag} in ${rel}`);
        }
      }
      // 2. Repository paths in the text (prose and code blocks alike).
      // (Link targets were checked above, relative to the file.)
      text.split('\n').forEach((l, i) => {
        for (const { token } of pathTokens(l.replace(/\]\([^)]*\)/g, ']'))) checkPath(file, i + 1, token, 'paths');
      });
    } else if (COMMENT_EXT.test(file) || /(^|\/)Makefile$/.test(file) || file === '.ci/run') {
      if (file === self || file === selfTest) continue;
      counts.comment_files += 1;
      for (const [line, c] of comments(file, text)) {
        for (const { token } of pathTokens(c)) checkPath(file, line, token, 'comment_paths');
      }
    }
  }
  return { counts, problems };
}

if (process.argv[1] && resolve(process.argv[1]) === SELF) {
  const { counts, problems } = check(process.argv[2]);
  console.log(
    `check-links: ${counts.markdown_files} markdown files, ${counts.links} relative links (${counts.anchors} with anchors), ` +
      `${counts.paths} paths in docs, ${counts.comment_paths} paths in comments of ${counts.comment_files} source files, ` +
      `${counts.scanned_files} files scanned for outside documents and history`,
  );
  for (const p of problems) console.log(p);
  console.log(problems.length ? `check-links: ${problems.length} problem(s)` : 'check-links: ok');
  process.exit(problems.length ? 1 : 0);
}
