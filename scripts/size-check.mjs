// Fails when a built bundle (gzip -9 of build/<b>/index_bg.wasm + build/<b>/index.js) exceeds
// its budget in size-budget.json. Usage: node scripts/size-check.mjs  (after `make build`).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const budget = JSON.parse(readFileSync(join(root, 'size-budget.json'), 'utf8'));
const gz = (f) => gzipSync(readFileSync(join(root, f)), { level: 9 }).length;
let failed = false;
for (const b of ['router', 'stats']) {
  const wasm = gz(`build/${b}/index_bg.wasm`);
  const js = gz(`build/${b}/index.js`);
  const total = wasm + js;
  const max = budget[b];
  if (typeof max !== 'number') throw new Error(`size-budget.json: no budget for ${b}`);
  const ok = total <= max;
  failed ||= !ok;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${b.padEnd(6)} ${total} bytes gzip (wasm ${wasm} + js ${js}) / budget ${max} (${((100 * total) / max).toFixed(1)} %)`);
}
if (failed) {
  console.error('size-check: a bundle is over its budget (size-budget.json); `NAMES=1 scripts/size.sh` shows what grew');
  process.exit(1);
}
