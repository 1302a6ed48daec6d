// Minimal wasm size breakdown (no deps): section sizes and the largest function bodies.
// Usage: node scripts/wasm-sizes.mjs <file.wasm> [<named.wasm>]
// If a file carries a "name" section, functions are named; the release profile strips names,
// so `NAMES=1 scripts/size.sh` builds an unstripped copy (target/size-<bundle>/) and analyses that too.
import { readFileSync, existsSync } from 'node:fs';

const TOP = Number(process.env.TOP || 15);
const SECTION = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export', 'start', 'element', 'code', 'data', 'datacount', 'tag'];

function leb(buf, pos) {
  let result = 0, shift = 0, b;
  do {
    b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [result, pos];
}
function str(buf, pos) {
  const [len, p] = leb(buf, pos);
  return [buf.toString('utf8', p, p + len), p + len];
}

function analyse(file) {
  const buf = readFileSync(file);
  if (buf.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file}: not a wasm file`);
  let pos = 8;
  const sections = [];
  let importedFuncs = 0;
  const bodies = [];
  const names = new Map();
  while (pos < buf.length) {
    const id = buf[pos];
    const [size, start] = leb(buf, pos + 1);
    const end = start + size;
    let label = SECTION[id] ?? `id${id}`;
    if (id === 0) {
      const [name, p] = str(buf, start);
      label = `custom:${name}`;
      if (name === 'name') {
        let q = p;
        while (q < end) {
          const sub = buf[q];
          const [subSize, s] = leb(buf, q + 1);
          if (sub === 1) {
            let [count, r] = leb(buf, s);
            for (let i = 0; i < count; i++) {
              let idx, nm;
              [idx, r] = leb(buf, r);
              [nm, r] = str(buf, r);
              names.set(idx, nm);
            }
          }
          q = s + subSize;
        }
      }
    } else if (id === 2) {
      let [count, r] = leb(buf, start);
      for (let i = 0; i < count; i++) {
        let kind;
        [, r] = str(buf, r);
        [, r] = str(buf, r);
        kind = buf[r++];
        if (kind === 0) { importedFuncs++; [, r] = leb(buf, r); }
        else if (kind === 1) { r++; const flags = buf[r++]; [, r] = leb(buf, r); if (flags & 1) [, r] = leb(buf, r); }
        else if (kind === 2) { const flags = buf[r++]; [, r] = leb(buf, r); if (flags & 1) [, r] = leb(buf, r); }
        else if (kind === 3) { r += 2; }
        else if (kind === 4) { r++; [, r] = leb(buf, r); }
      }
    } else if (id === 10) {
      let [count, r] = leb(buf, start);
      for (let i = 0; i < count; i++) {
        const [bsize, b] = leb(buf, r);
        bodies.push({ index: importedFuncs + i, size: bsize });
        r = b + bsize;
      }
    }
    sections.push({ label, size: end - pos });
    pos = end;
  }
  return { file, total: buf.length, sections, bodies, names };
}

function report(a) {
  console.log(`${a.file}: ${a.total} bytes, ${a.bodies.length} functions`);
  for (const s of a.sections.sort((x, y) => y.size - x.size)) {
    console.log(`  ${s.label.padEnd(28)} ${String(s.size).padStart(9)}  ${((100 * s.size) / a.total).toFixed(1).padStart(5)}%`);
  }
  console.log(`  largest functions${a.names.size ? '' : ' (no name section: indices only)'}:`);
  for (const f of [...a.bodies].sort((x, y) => y.size - x.size).slice(0, TOP)) {
    const n = a.names.get(f.index) ?? `func[${f.index}]`;
    console.log(`  ${String(f.size).padStart(9)}  ${n.length > 110 ? n.slice(0, 107) + '...' : n}`);
  }
  console.log();
}

for (const f of process.argv.slice(2)) if (existsSync(f)) report(analyse(f));
