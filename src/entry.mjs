// The router's module entry (bundled by scripts/build-worker.sh into build/router/index.js,
// the `main` of wrangler.toml): a plain `export default { fetch }` that hands the request to
// the Rust handler. No class, no proxies, nothing per request but the call and one flag test.
//
// A Rust panic aborts: the panic hook logs the message and location and sets
// `globalThis.__switchyardTrapped` (js/platform.mjs `trapped`), then the wasm instance traps.
// The request that panicked dies with the instance (the runtime answers it with a 500); the
// next request first starts a fresh instance (`__wbg_reset_state`, wasm-bindgen's
// `--experimental-reset-state-function`), so one bad request never takes the isolate's later
// requests down with it, even when the panic left shared state (a RefCell borrow) behind.
import * as wasm from './index.js';

function restart() {
  globalThis.__switchyardTrapped = false;
  wasm.__wbg_reset_state();
  wasm.start();
  console.error('switchyard: the wasm instance trapped (see the panic above); started a fresh one');
}

wasm.start();

// A synchronous throw or a rejection that reached the entry (not a panic: those never
// settle): a JSON 500, and a fresh instance if the wasm trapped.
function crashed(e) {
  if (e instanceof WebAssembly.RuntimeError) globalThis.__switchyardTrapped = true;
  console.error('switchyard: internal error', e);
  return new Response(
    JSON.stringify({ error: { code: 'internal_error', message: 'internal error (logged)' } }),
    { status: 500, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } },
  );
}

export default {
  fetch(request, env, ctx) {
    if (globalThis.__switchyardTrapped) restart();
    try {
      return wasm.fetch(request, env, ctx).catch(crashed);
    } catch (e) {
      return crashed(e);
    }
  },
};
