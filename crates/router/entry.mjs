// The router's module entry (bundled by scripts/build-worker.sh into build/router/index.js,
// the `main` of wrangler.toml): a plain `export default { fetch }` that hands the request to
// the Rust handler. No class, no proxies, nothing per request but the call.
//
// A Rust panic aborts (the wasm instance traps with a RuntimeError after the panic hook has
// logged the message): that request gets a JSON 500, and the next request starts a fresh
// instance (`__wbg_reset_state`, wasm-bindgen's `--experimental-reset-state-function`), so
// one bad request never takes the isolate's later requests down with it.
import * as wasm from './index.js';

let broken = false;

function restart() {
  wasm.__wbg_reset_state();
  wasm.start();
  broken = false;
}

wasm.start();

function crashed(e) {
  if (e instanceof WebAssembly.RuntimeError) {
    broken = true;
    console.error('switchyard: the wasm instance trapped; a fresh one serves the next request', e);
  } else {
    console.error('switchyard: internal error', e);
  }
  return new Response(
    JSON.stringify({ error: { code: 'internal_error', message: 'internal error (logged)' } }),
    { status: 500, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } },
  );
}

export default {
  fetch(request, env, ctx) {
    if (broken) restart();
    try {
      return wasm.fetch(request, env, ctx).catch(crashed);
    } catch (e) {
      return crashed(e);
    }
  },
};
