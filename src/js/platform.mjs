// The platform calls the router makes, each one crossing of the wasm boundary. Mechanics
// only: every decision (which origin, which headers, how long to wait, what to answer) is
// made in Rust and passed in; these functions execute it with the runtime's own objects, so
// a header list is copied natively instead of entry by entry through wasm (docs/bench.md).
// Imported by src/js.rs through `#[wasm_bindgen(module = ...)]`; unit-tested
// by tests/router/platform.test.mjs.

/**
 * fetch() that never follows redirects and waits at most `timeoutMs` for the response head
 * (the body then streams without a deadline). Resolves to the Response, or to `null` when
 * the head did not arrive in time (the request is aborted); rejects on a network error.
 * `body`: undefined, a ReadableStream (sent once) or an ArrayBuffer (copied per send).
 */
export function send(url, method, headers, body, timeoutMs) {
  const abort = new AbortController();
  const init = { method, headers, redirect: 'manual', signal: abort.signal };
  if (body !== undefined && body !== null) init.body = body;
  // One timer and one continuation: the head's arrival clears the timer (promise reactions
  // run before any timer callback, so a head that arrived is never aborted); a timeout
  // aborts the fetch, whose rejection then reads as `null`.
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let sent;
  try {
    sent = fetch(url, init);
  } catch (e) {
    clearTimeout(timer);
    return Promise.reject(e);
  }
  return sent.then(
    (response) => {
      clearTimeout(timer);
      return response;
    },
    (e) => {
      clearTimeout(timer);
      if (abort.signal.aborted) return null;
      throw e;
    },
  );
}

/** `env[binding].get(key, "text")`, or `null` when it gave no answer within `timeoutMs`. */
export function kvGet(env, binding, key, timeoutMs) {
  const ns = env[binding];
  if (!ns || typeof ns.get !== 'function') {
    return Promise.reject(new Error(`KV binding ${binding}: not a KV namespace`));
  }
  let read;
  try {
    read = ns.get(key, 'text');
  } catch (e) {
    return Promise.reject(e);
  }
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  return Promise.race([read, late]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The names of `headers` (lower case, as the runtime lists them), one per line. */
export function names(headers) {
  let out = '';
  for (const k of headers.keys()) out = out ? `${out}\n${k}` : k;
  return out;
}

function pairs(list, each) {
  if (!list) return;
  const kv = list.split('\n');
  for (let i = 0; i + 1 < kv.length; i += 2) {
    try {
      each(kv[i], kv[i + 1]);
    } catch {
      // An invalid name or value is dropped rather than failing the request.
    }
  }
}

/**
 * A copy of `headers` with the names in `del` removed, then `set` and `append` applied
 * (both "name\nvalue\n..." lists). `headers` may be a Headers object or undefined.
 */
export function edited(headers, del, set, append) {
  const out = new Headers(headers);
  if (del) for (const n of del.split('\n')) out.delete(n);
  pairs(set, (k, v) => out.set(k, v));
  pairs(append, (k, v) => out.append(k, v));
  return out;
}

/** `response`'s status and body with new headers (the response as is if it cannot be rebuilt). */
export function respond(response, headers) {
  try {
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  } catch {
    return response;
  }
}

/**
 * A JSON response Switchyard writes itself; `extra`: "name\nvalue\n..." headers. `body` is a
 * view into wasm memory, valid only during this call (the caller frees the bytes when it
 * returns, and a growing wasm memory detaches every view): it is copied (`slice`) rather than
 * trusting the runtime to copy it before either happens.
 */
export function json(status, body, extra) {
  const headers = new Headers({ 'content-type': 'application/json', 'cache-control': 'no-store' });
  pairs(extra, (k, v) => headers.set(k, v));
  return new Response(body.slice(), { status, headers });
}

/** `fetch(url, {method, body})` on the Durable Object named `name` of namespace `binding`. */
export function callObject(env, binding, name, url, method, body) {
  const ns = env[binding];
  if (!ns || typeof ns.idFromName !== 'function') {
    return Promise.reject(new Error(`binding ${binding}: not a Durable Object namespace`));
  }
  const init = { method };
  if (body !== undefined && body !== null) init.body = body;
  try {
    return ns.get(ns.idFromName(name)).fetch(url, init);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** `env[binding].fetch(request)` on a service binding. */
export function callService(env, binding, request) {
  const svc = env[binding];
  if (!svc || typeof svc.fetch !== 'function') {
    return Promise.reject(new Error(`binding ${binding}: not a service binding`));
  }
  try {
    return svc.fetch(request);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** A string binding (secret or var), or undefined. */
export function secret(env, name) {
  const v = env[name];
  return typeof v === 'string' ? v : undefined;
}

/** `request.cf.country`, when the platform set it. */
export function country(request) {
  const c = request.cf && request.cf.country;
  return typeof c === 'string' ? c : undefined;
}

/**
 * Reads a body nobody needs to the end, in the runtime (nothing is copied into wasm); the
 * caller awaits it, so the origin connection goes back to the pool. Cancelling the body, or
 * leaving the read running when the request's `waitUntil` work ends, closes the connection
 * instead, and the next request to that origin opens a new one (docs/bench.md).
 */
export function drain(response) {
  if (!response.body) return Promise.resolve();
  return response.arrayBuffer().then(
    () => undefined,
    () => undefined,
  );
}

/**
 * `response`'s body when it has at most `max` bytes: a Uint8Array, read chunk by chunk;
 * `null` as soon as it is longer (the rest is cancelled, never read; a declared
 * `content-length` above `max` cancels before the first read); `undefined` when the body
 * could not be read. At most `max` bytes plus one chunk are ever held.
 */
export async function capped(response, max) {
  const body = response.body;
  if (!body) return new Uint8Array(0);
  const declared = Number(response.headers.get('content-length'));
  if (declared > max) {
    body.cancel().catch(() => {});
    return null;
  }
  const parts = [];
  let n = 0;
  let reader;
  try {
    reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > max) {
        reader.cancel().catch(() => {});
        return null;
      }
      parts.push(value);
    }
  } catch {
    return undefined;
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Called by the Rust panic hook just before the instance traps (`panic = "abort"`): the
 * module entry (`entry.mjs`) then starts a fresh instance before the next request. A global
 * flag, because the entry and this module are separate modules of the bundle.
 */
export function trapped() {
  globalThis.__switchyardTrapped = true;
}

/** A rejection's text. */
export function why(e) {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}
