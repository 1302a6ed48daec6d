// What the repository tells its readers exists in it: scripts/check-links.mjs over this
// checkout (relative links and anchors in README.md, CONTRIBUTING.md and docs/*.md; repository
// paths in those files and in source comments; no document outside the repository and no
// working history), and over a synthetic tree in which every kind of problem is planted once,
// so the check is shown to fail where it should.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, slug } from '../../scripts/check-links.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('README, CONTRIBUTING, docs and code comments name only what exists', () => {
  const { counts, problems } = check(ROOT);
  console.log(`# check-links: ${JSON.stringify(counts)}`);
  assert.deepEqual(problems, []);
  // The check saw the documents it is meant to see.
  assert.ok(counts.markdown_files >= 10, `markdown files: ${counts.markdown_files}`);
  assert.ok(counts.links >= 50, `relative links: ${counts.links}`);
  assert.ok(counts.anchors >= 20, `links with anchors: ${counts.anchors}`);
  assert.ok(counts.paths >= 100, `paths in docs: ${counts.paths}`);
  assert.ok(counts.comment_paths >= 50, `paths in comments: ${counts.comment_paths}`);
});

test('GitHub anchors: punctuation dropped, spaces to dashes', () => {
  assert.equal(slug('Operator tokens and roles (fail closed)'), 'operator-tokens-and-roles-fail-closed');
  assert.equal(slug('Statistics: GET /_switchyard/stats/<route>'), 'statistics-get-_switchyardstatsroute');
  assert.equal(slug('Sticky bucketing, v1'), 'sticky-bucketing-v1');
});

function tree(files) {
  const dir = mkdtempSync(join(tmpdir(), 'sy-links-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

const CLEAN = {
  'README.md': '# Demo\n\nSee [config](docs/config.md#fields) and `scripts/run.sh`.\n\n## Contributing\n',
  'docs/config.md': '# Config\n\n## Fields\n\nBack to the [README](../README.md#contributing); ![chart](img/a.png)\n',
  'docs/img/a.png': 'png',
  'scripts/run.sh': '#!/bin/sh\n# Reads docs/config.md.\necho ok\n',
  'crates/x/Cargo.toml': '[package]\nname = "x"\n',
  'crates/x/src/lib.rs': '//! See src/lib.rs and docs/config.md.\npub fn f() {}\n',
};

test('a clean synthetic tree passes', () => {
  const dir = tree(CLEAN);
  try {
    const { problems, counts } = check(dir);
    assert.deepEqual(problems, []);
    assert.equal(counts.links, 3);
    assert.equal(counts.anchors, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every planted problem is found, with its file and line', () => {
  const outside = ['DESIGN', 'md'].join('.');
  const history = ['issue', '12'].join(' ');
  const dir = tree({
    ...CLEAN,
    'README.md': [
      '# Demo',
      '',
      'See [config](docs/confg.md).', // 3: broken link
      'And [fields](docs/config.md#no-such-heading).', // 4: broken anchor
      'Run `scripts/missing.sh`.', // 5: missing path
      `As ${outside} says.`, // 6: outside document
      '',
      '## Contributing',
    ].join('\n'),
    'crates/x/src/lib.rs': `//! Built in ${history}; see crates/x/src/gone.rs.\npub fn f() {}\n`,
  });
  try {
    const { problems } = check(dir);
    const has = (re) => assert.ok(problems.some((p) => re.test(p)), `expected ${re} in:\n${problems.join('\n')}`);
    has(/^README\.md:3: link to docs\/confg\.md/);
    has(/^README\.md:4: .*no heading with anchor #no-such-heading/);
    has(/^README\.md:5: names scripts\/missing\.sh/);
    has(/^README\.md:6: cites a design document/);
    has(/^crates\/x\/src\/lib\.rs:1: speaks of an issue number/);
    has(/^crates\/x\/src\/lib\.rs:1: names crates\/x\/src\/gone\.rs/);
    assert.equal(problems.length, 6, problems.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
