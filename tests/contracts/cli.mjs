// The `switchyard` CLI (crates/cli) for the contract tests: built once with cargo, then run
// directly. `validateFiles` asks the workers' own validator about many files in few processes.
import { execFileSync, execFile } from 'node:child_process';
import { dirname, resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let bin;

/**
 * Path of the built binary (`cargo build -p switchyard-cli`, a no-op when it is current), or
 * `$SWITCHYARD_BIN` (to hold another build to the same contracts).
 */
export function switchyardBin() {
  if (bin) return bin;
  if (process.env.SWITCHYARD_BIN) return (bin = process.env.SWITCHYARD_BIN);
  execFileSync('cargo', ['build', '-q', '-p', 'switchyard-cli'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const target = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
  bin = join(target, 'debug', 'switchyard');
  return bin;
}

/** Runs the CLI; resolves {code, stdout, stderr} whatever the exit code. */
export function cli(args, { input } = {}) {
  return new Promise((res) => {
    const child = execFile(switchyardBin(), args, { cwd: ROOT, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/**
 * `switchyard validate --json` over `files`, in batches: Map file -> {valid, errors:[{path,
 * reason}]} (one JSON line per file; exit 1 only means that some file is invalid).
 */
export async function validateFiles(files, batch = 400) {
  const out = new Map();
  for (let i = 0; i < files.length; i += batch) {
    const chunk = files.slice(i, i + batch);
    const r = await cli(['validate', '--json', ...chunk]);
    if (r.code !== 0 && r.code !== 1) throw new Error(`switchyard validate exited ${r.code}: ${r.stderr}`);
    const lines = r.stdout.trimEnd().split('\n');
    if (lines.length !== chunk.length) throw new Error(`expected ${chunk.length} results, got ${lines.length}`);
    for (const line of lines) {
      const v = JSON.parse(line);
      out.set(v.file, { valid: v.valid, errors: v.errors ?? [] });
    }
  }
  return out;
}
