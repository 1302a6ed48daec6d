#!/usr/bin/env node
// The module-level import graph of a Rust crate (default: crates/core/src), and a check that
// it has no cycle. Two levels:
//   - between the crate's top-level modules (config, routing, learn, ...);
//   - inside each folder module, between its child modules (mod.rs, the facade, is left out:
//     a parent naming its children is not a cycle).
// An edge A -> B is any path that resolves into B from code in A: `crate::b::…`,
// `super::…` / `self::…` chains (inline `mod x { … }` blocks counted), and `use` trees with
// braces. A name a facade re-exports (`pub use child::Item;` in mod.rs) counts as its child.
// Comments and string literals are ignored.
//   node scripts/check-modules.mjs [src dir]      prints the graph; exits 1 on a cycle
// tests/scripts/check-modules.test.mjs checks it on synthetic crates (with and without cycles).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Source text with comments removed and string/char literal contents blanked. */
export function strip(src) {
  let out = '';
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      while (i < n && src[i] !== '\n') i++;
    } else if (c === '/' && d === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (src[i] === '/' && src[i + 1] === '*') { depth++; i += 2; }
        else if (src[i] === '*' && src[i + 1] === '/') { depth--; i += 2; }
        else { if (src[i] === '\n') out += '\n'; i++; }
      }
      out += ' ';
    } else if ((c === 'r' || (c === 'b' && d === 'r')) && /^b?r#*"/.test(src.slice(i, i + 40)) && !/[\w]/.test(src[i - 1] ?? '')) {
      const m = /^b?r(#*)"/.exec(src.slice(i, i + 40));
      const close = '"' + m[1];
      const end = src.indexOf(close, i + m[0].length);
      const stop = end < 0 ? n : end + close.length;
      out += '""';
      for (let k = i; k < stop; k++) if (src[k] === '\n') out += '\n';
      i = stop;
    } else if (c === '"') {
      i++;
      while (i < n && src[i] !== '"') {
        if (src[i] === '\\') i++;
        else if (src[i] === '\n') out += '\n';
        i++;
      }
      i++;
      out += '""';
    } else if (c === "'") {
      // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
      if (d === '\\') {
        const end = src.indexOf("'", i + 2 + (src[i + 2] === "'" ? 1 : 0));
        i = end < 0 ? n : end + 1;
        out += "' '";
      } else if (src[i + 2] === "'") {
        i += 3;
        out += "' '";
      } else {
        out += c;
        i++;
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

/**
 * Every path in `text` that starts with `crate`, `super` or `self`, with the module path
 * (inline `mod` blocks included) of the code it appears in. `use` trees with braces give one
 * path per leaf. Returns [{ at: [...module path], segs: [...segments] }].
 */
export function paths(text, fileModule) {
  const found = [];
  // Inline modules: `mod name {` opens one; its closing brace ends it.
  const stack = []; // { name, depth }
  let depth = 0;
  const modAt = () => [...fileModule, ...stack.map((s) => s.name)];
  const ws = (i) => { while (i < text.length && /\s/.test(text[i])) i++; return i; };
  const ident = (i) => { IDENT.lastIndex = i; const m = IDENT.exec(text); return m ? m[0] : null; };
  // Parses a use tree at i after `prefix`; pushes leaves; returns the index after the tree.
  const tree = (i, prefix, at) => {
    const segs = [...prefix];
    for (;;) {
      i = ws(i);
      if (text[i] === '{') {
        i++;
        for (;;) {
          i = ws(i);
          if (text[i] === '}') { i++; break; }
          i = tree(i, segs, at);
          i = ws(i);
          if (text[i] === ',') i++;
        }
        return i;
      }
      if (text[i] === '*') { found.push({ at, segs: [...segs, '*'] }); return i + 1; }
      const id = ident(i);
      if (!id) { if (segs.length) found.push({ at, segs }); return i; }
      segs.push(id);
      i += id.length;
      const j = ws(i);
      if (text.startsWith('::', j) && text[ws(j + 2)] !== '<') { i = j + 2; continue; }
      // `Item as Alias`
      if (ident(j) === 'as' && /\s/.test(text[j + 2] ?? '')) {
        const k = ws(j + 2);
        const alias = ident(k);
        if (alias) { found.push({ at, segs, alias }); return k + alias.length; }
      }
      found.push({ at, segs });
      return i;
    }
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') { depth++; continue; }
    if (c === '}') {
      if (stack.length && stack[stack.length - 1].depth === depth) stack.pop();
      depth--;
      continue;
    }
    if (!/[A-Za-z_]/.test(c) || /[\w$]/.test(text[i - 1] ?? '')) continue;
    const id = ident(i);
    if (id === 'mod') {
      const j = ws(i + 3);
      const name = ident(j);
      if (name) {
        const k = ws(j + name.length);
        if (text[k] === '{') { stack.push({ name, depth: depth + 1 }); depth++; i = k; continue; }
      }
    }
    if ((id === 'crate' || id === 'super' || id === 'self') && text.startsWith('::', ws(i + id.length))
        && !text.startsWith('::', i - 2)) {
      const end = tree(i, [], modAt());
      i = end - 1;
      continue;
    }
    i += id.length - 1;
  }
  return found;
}

/** Resolves `crate`/`super`/`self` at the start of `segs` against module path `at`. */
export function resolve(at, segs) {
  let base = [...at];
  let k = 0;
  if (segs[0] === 'crate') { base = []; k = 1; }
  else {
    while (segs[k] === 'self' || segs[k] === 'super') {
      if (segs[k] === 'super') { if (!base.length) return null; base.pop(); }
      k++;
    }
  }
  return [...base, ...segs.slice(k)];
}

function rustFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...rustFiles(p));
    else if (e.endsWith('.rs')) out.push(p);
  }
  return out;
}

/** The module path of a file relative to the crate's src dir (lib.rs: []; a/mod.rs: [a]). */
export function moduleOf(rel) {
  const parts = rel.split(sep).join('/').replace(/\.rs$/, '').split('/');
  if (parts[parts.length - 1] === 'mod' || (parts.length === 1 && (parts[0] === 'lib' || parts[0] === 'main'))) parts.pop();
  return parts;
}

/**
 * The graph of `files` ({ rel, src }): { top: Map(from -> Map(to -> count)),
 * inner: Map(folder -> Map(from -> Map(to -> count))) }.
 */
export function graph(files) {
  const mods = files.map((f) => ({ rel: f.rel, mod: moduleOf(f.rel), text: strip(f.src) }));
  const top = new Set(mods.filter((m) => m.mod.length).map((m) => m.mod[0]));
  const children = new Map(); // folder -> Set(child)
  for (const m of mods) {
    if (m.mod.length >= 2) {
      if (!children.has(m.mod[0])) children.set(m.mod[0], new Set());
      children.get(m.mod[0]).add(m.mod[1]);
    }
  }
  // Facade re-exports: folder -> Map(name -> child).
  const reexports = new Map();
  for (const m of mods) {
    if (m.mod.length !== 1 || !children.has(m.mod[0])) continue;
    const kids = children.get(m.mod[0]);
    const map = new Map();
    const re = /\bpub(?:\s*\([^)]*\))?\s+use\s+/g;
    let hit;
    while ((hit = re.exec(m.text))) {
      const sub = paths('crate::' + m.text.slice(hit.index + hit[0].length).split(';')[0], []);
      for (const p of sub) {
        let segs = p.segs.slice(1);
        // `pub use child::X` (relative), `pub use self::child::X`, `pub use crate::f::child::X`.
        let abs = resolve(m.mod, segs[0] === 'crate' || segs[0] === 'self' || segs[0] === 'super' ? segs : ['self', ...segs]);
        if (abs && abs[0] === m.mod[0] && kids.has(abs[1])) {
          const name = p.alias ?? abs[abs.length - 1];
          if (name !== '*') map.set(name, abs[1]);
        }
      }
    }
    reexports.set(m.mod[0], map);
  }
  const add = (g, a, b) => {
    if (!g.has(a)) g.set(a, new Map());
    g.get(a).set(b, (g.get(a).get(b) ?? 0) + 1);
  };
  const topG = new Map();
  const inner = new Map();
  for (const m of mods) {
    if (!m.mod.length) continue;
    for (const p of paths(m.text, m.mod)) {
      const abs = resolve(p.at, p.segs);
      if (!abs || !abs.length) continue;
      const [from, to] = [m.mod[0], abs[0]];
      if (!top.has(to)) continue;
      if (from !== to) { add(topG, from, to); continue; }
      // Inside one folder: child -> child (mod.rs itself is the facade, left out).
      if (m.mod.length < 2 || !children.has(from) || abs.length < 2) continue;
      let child = abs[1];
      if (!children.get(from).has(child)) child = reexports.get(from)?.get(child);
      if (child && child !== m.mod[1]) {
        if (!inner.has(from)) inner.set(from, new Map());
        add(inner.get(from), m.mod[1], child);
      }
    }
  }
  return { top: topG, inner, modules: [...top].sort() };
}

/** Strongly connected components with more than one node (Tarjan). */
export function cycles(g) {
  const nodes = new Set();
  for (const [a, bs] of g) { nodes.add(a); for (const b of bs.keys()) nodes.add(b); }
  let index = 0;
  const idx = new Map(), low = new Map(), on = new Set(), st = [], out = [];
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++; st.push(v); on.add(v);
    for (const w of (g.get(v) ?? new Map()).keys()) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do { w = st.pop(); on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of [...nodes].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** Reads a src dir; returns { text (the printed graph), cycles: [[level, members]] }. */
export function check(dir) {
  const files = rustFiles(dir).map((p) => ({ rel: relative(dir, p), src: readFileSync(p, 'utf8') }));
  const g = graph(files);
  const lines = [];
  const show = (gg, indent) => {
    for (const a of [...gg.keys()].sort()) {
      const bs = [...gg.get(a).entries()].sort(([x], [y]) => (x < y ? -1 : 1));
      lines.push(`${indent}${a} -> ${bs.map(([b, n]) => `${b} (${n})`).join(', ')}`);
    }
  };
  lines.push(`top-level modules: ${g.modules.join(', ')}`);
  show(g.top, '  ');
  const found = cycles(g.top).map((c) => ['crate', c]);
  for (const f of [...g.inner.keys()].sort()) {
    lines.push(`inside ${f}/:`);
    show(g.inner.get(f), '  ');
    for (const c of cycles(g.inner.get(f))) found.push([f, c]);
  }
  return { text: lines.join('\n'), cycles: found };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2] ?? join(fileURLToPath(new URL('..', import.meta.url)), 'crates/core/src');
  const r = check(dir);
  console.log(r.text);
  if (r.cycles.length) {
    for (const [lvl, c] of r.cycles) console.error(`check-modules: import cycle in ${lvl}: ${c.join(' <-> ')}`);
    process.exit(1);
  }
  console.log('check-modules: no import cycle');
}
