import * as wasm from './index.js';
export default { fetch: (request, env) => wasm.fetch(request, env) };
