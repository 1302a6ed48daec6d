// scripts/check-modules.mjs on synthetic crates: it must find a cycle wherever one is (between
// top-level modules, inside a folder, through `super::`, brace groups and facade re-exports)
// and must not invent one from comments, strings, inline test modules or a facade naming its
// children. Run by `make lint` (node --test tests/scripts/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { check, strip, paths, resolve } from '../../scripts/check-modules.mjs';

const SCRIPT = fileURLToPath(new URL('../../scripts/check-modules.mjs', import.meta.url));

function crate(files) {
  const dir = mkdtempSync(join(tmpdir(), 'check-modules-'));
  for (const [rel, src] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), src);
  }
  return dir;
}

function run(files) {
  const dir = crate(files);
  try {
    return check(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const LIB = 'pub mod a;\npub mod b;\npub mod c;\n';

test('a two-module cycle through crate:: paths is found', () => {
  const r = run({
    'lib.rs': LIB,
    'a.rs': 'use crate::b::B;\npub struct A;\n',
    'b.rs': 'pub struct B;\npub fn f() -> crate::a::A { crate::a::A }\n',
    'c.rs': '',
  });
  assert.deepEqual(r.cycles, [['crate', ['a', 'b']]]);
  assert.match(r.text, /a -> b \(1\)/);
  assert.match(r.text, /b -> a \(2\)/);
});

test('a three-module cycle through super:: and a use group is found', () => {
  const r = run({
    'lib.rs': LIB,
    'a.rs': 'use super::{b::B, c};\n',
    'b.rs': 'use crate::{c::C};\npub struct B;\n',
    'c/mod.rs': 'mod x;\npub use x::C;\n',
    'c/x.rs': 'pub struct C;\nfn g() { super::super::a::h(); }\n',
  });
  assert.deepEqual(r.cycles, [['crate', ['a', 'b', 'c']]]);
});

test('an acyclic crate passes; comments, strings and a facade naming its children make no edge', () => {
  const r = run({
    'lib.rs': LIB,
    'a.rs': '// use crate::b::B;\n/* crate::c::C */\nconst S: &str = "crate::b::x";\nconst R: &str = r#"crate::c::y"#;\nfn l<\'a>(x: &\'a str) -> char { \'"\' }\n',
    'b.rs': 'use crate::a;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn t() { super::helper(); }\n}\nfn helper() {}\n',
    'c/mod.rs': 'mod x;\nmod y;\npub use x::X;\npub use self::y::Y;\n',
    'c/x.rs': 'use super::y::Y;\npub struct X(Y);\n',
    'c/y.rs': 'pub struct Y;\n',
  });
  assert.deepEqual(r.cycles, []);
  assert.match(r.text, /b -> a \(1\)/);
  assert.doesNotMatch(r.text, /a -> /);
  assert.match(r.text, /inside c\/:\n  x -> y \(1\)/);
});

test('a cycle between two children of one folder is found, also through the facade re-exports', () => {
  const r = run({
    'lib.rs': 'pub mod f;\n',
    'f/mod.rs': 'mod p;\nmod q;\npub use p::P;\npub use q::{Q as Renamed};\n',
    'f/p.rs': 'pub struct P(super::Renamed);\n',
    'f/q.rs': 'pub struct Q;\nfn g(_: crate::f::P) {}\n',
  });
  assert.deepEqual(r.cycles, [['f', ['p', 'q']]]);
});

test('the command exits 1 and names the cycle; 0 on an acyclic crate', () => {
  const bad = crate({ 'lib.rs': LIB, 'a.rs': 'use crate::b::B;', 'b.rs': 'use crate::a::A;', 'c.rs': '' });
  const good = crate({ 'lib.rs': LIB, 'a.rs': 'use crate::b::B;', 'b.rs': '', 'c.rs': 'use crate::a;' });
  try {
    assert.throws(() => execFileSync('node', [SCRIPT, bad], { stdio: 'pipe' }), (e) => {
      assert.equal(e.status, 1);
      assert.match(String(e.stderr), /import cycle in crate: a <-> b/);
      return true;
    });
    const out = execFileSync('node', [SCRIPT, good], { encoding: 'utf8' });
    assert.match(out, /no import cycle/);
  } finally {
    rmSync(bad, { recursive: true, force: true });
    rmSync(good, { recursive: true, force: true });
  }
});

test('the lexer and resolver pieces', () => {
  assert.equal(strip('a // crate::x\nb'), 'a \nb');
  assert.equal(strip('"cr\\"ate::x" y'), '"" y');
  const p = paths('use crate::{a::{B, c::D as E}, e};', ['m']);
  assert.deepEqual(p.map((x) => x.segs.join('::')), ['crate::a::B', 'crate::a::c::D', 'crate::e']);
  assert.equal(p[1].alias, 'E');
  assert.deepEqual(resolve(['f', 'x'], ['super', 'super', 'g']), ['g']);
  assert.equal(resolve([], ['super', 'g']), null);
});
