//! Responses that Switchyard writes itself (JSON errors and JSON documents), and request
//! bodies read with a limit ([`read_body`]).
//!
//! A failure is a [`Fault`] (`switchyard_core::ops::Fault`: whose fault it is decides its status
//! class: the caller's 4xx, the origin's 502/503/504, our own 5xx); [`fault`] is the one
//! function that turns it into a response.

use std::time::Duration;

use futures_util::future::{select, Either};
use web_sys::{ReadableStreamByobReader, ReadableStreamGetReaderOptions, ReadableStreamReaderMode};
use worker::js_sys::{ArrayBuffer, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::{spawn_local, JsFuture};
use worker::web_sys::TransformStream;
use worker::{Delay, Headers, Request, Response, ResponseBody};

use switchyard_core::ops::Fault;

/// A fault as its response: the fault's status, its JSON body (`{"error": {"code",
/// "message"}}` plus any fields), `content-type: application/json`, `cache-control:
/// no-store` and the fault's own headers.
pub fn fault(f: &Fault) -> Response {
    respond(f.status(), &f.to_value(), &f.headers)
}

pub fn json(status: u16, body: &serde_json::Value) -> Response {
    respond(status, body, &[])
}

fn respond(status: u16, body: &serde_json::Value, extra: &[(&'static str, String)]) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    for (k, v) in extra {
        let _ = headers.set(k, v);
    }
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        // to_vec, not to_string: one serializer instantiation (a Vec writer) for the bundle.
        .fixed(serde_json::to_vec(body).unwrap_or_default())
}

/// The request body, at most `max` bytes, read chunk by chunk as it streams in: a declared
/// `Content-Length` above `max` is refused before anything is read, and a body that grows
/// past `max` is refused as soon as its byte `max + 1` arrives; nothing past it is read here.
/// Either way the caller's fault: 413 `body_too_large` with `limit` as its message
/// (`control::handle` then ends the upload with [`linger`]). Each read asks for no more than
/// the bytes still allowed plus one, into one reused buffer, so at most `max + 1` bytes are
/// ever held.
pub async fn read_body(req: &Request, max: usize, limit: &str) -> Result<Vec<u8>, Fault> {
    let too_large = || Fault::too_large(limit);
    let declared: Option<u64> = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let Some(stream) = req.inner().body() else {
        return Ok(Vec::new());
    };
    let unreadable =
        |e: String| Fault::bad_request("unreadable_body", format!("could not read the body: {e}"));
    let mut body = ByteReader::new(&stream);
    let mut out = Vec::new();
    loop {
        let room = (max - out.len()).saturating_add(1);
        let Some(chunk) = body.next(room).await.map_err(unreadable)? else {
            return Ok(out);
        };
        let n = chunk.length() as usize;
        if out.len() + n > max {
            // The stream goes back to `linger`, which ends the upload.
            body.reader.release_lock();
            return Err(too_large());
        }
        let at = out.len();
        out.resize(at + n, 0);
        chunk.copy_to(&mut out[at..]);
    }
}

/// Bytes read into a buffer smaller than a request body could be.
const READ_BUFFER: usize = 64 * 1024;

/// A BYOB reader on a byte stream that reads into one buffer, handed to the stream and back
/// on every read: reading allocates nothing per chunk.
struct ByteReader {
    reader: ReadableStreamByobReader,
    buffer: ArrayBuffer,
}

impl ByteReader {
    fn new(stream: &web_sys::ReadableStream) -> Self {
        let options = ReadableStreamGetReaderOptions::new();
        options.set_mode(ReadableStreamReaderMode::Byob);
        Self {
            reader: stream.get_reader_with_options(&options).unchecked_into(),
            buffer: ArrayBuffer::new(READ_BUFFER as u32),
        }
    }

    /// The next chunk, at most `want` bytes (1..=64 KiB), or `None` at the stream's end. The
    /// chunk is a view into the reader's buffer, valid until the next read.
    async fn next(&mut self, want: usize) -> Result<Option<Uint8Array>, String> {
        let want = want.clamp(1, READ_BUFFER) as u32;
        let view = Uint8Array::new_with_byte_offset_and_length(&self.buffer, 0, want);
        let step = JsFuture::from(self.reader.read_with_array_buffer_view(&view))
            .await
            .map_err(|e| format!("{e:?}"))?;
        let field =
            |k: &str| Reflect::get(&step, &JsValue::from_str(k)).map_err(|e| format!("{e:?}"));
        let value = field("value")?;
        if !value.is_undefined() {
            let chunk: Uint8Array = value.unchecked_into();
            self.buffer = chunk.buffer();
            if !field("done")?.as_bool().unwrap_or(true) {
                return Ok(Some(chunk));
            }
        }
        Ok(None)
    }
}

/// How long a refused upload's connection is held open for its 413 to be read.
pub const LINGER_MS: u64 = 1_000;
/// How much more of a refused upload is read (and discarded) for the upload to end cleanly.
pub const LINGER_BYTES: u32 = 256 * 1024;

/// A 413 answer to a request whose body was not read to its end, delivered before the
/// connection is cut (a lingering close). workerd closes a connection whose request body is
/// unfinished as soon as the answer is complete, and the TCP reset for the client's bytes
/// still in flight can destroy the answer before the client reads it (measured under
/// `wrangler dev`: most 50 MB uploads saw `ECONNRESET`, not the 413). So the answer's head
/// and JSON body go out at once and the answer stays open: the rest of the upload is read
/// and discarded, never held, up to [`LINGER_BYTES`] (a client that sent a little too much,
/// or stopped on the early answer as curl and Node do, ends cleanly); a longer upload is not
/// read further and is cancelled after [`LINGER_MS`]. Anything else is returned as is.
pub fn linger(request: &worker::web_sys::Request, resp: Response) -> Response {
    // A declared length is refused from its header, before any byte is read; the runtime's
    // own handling of that early answer delivers it (a lingering close there made `wrangler
    // dev`'s proxy answer its own 503 instead of the 413).
    if request.headers().has("content-length").unwrap_or(false) {
        return resp;
    }
    let (Some(upload), ResponseBody::Body(bytes)) = (request.body(), resp.body()) else {
        return resp;
    };
    if upload.locked() {
        return resp;
    }
    let Ok(pipe) = TransformStream::new() else {
        return resp;
    };
    let Ok(writer) = pipe.writable().get_writer() else {
        return resp;
    };
    let _ = writer.write_with_chunk(&Uint8Array::from(&bytes[..]));
    let mut upload = ByteReader::new(&upload);
    spawn_local(async move {
        let mut deadline = Box::pin(Delay::from(Duration::from_millis(LINGER_MS)));
        let mut drained: u32 = 0;
        let ended = loop {
            if drained > LINGER_BYTES {
                deadline.await;
                break false;
            }
            match select(Box::pin(upload.next(READ_BUFFER)), deadline).await {
                // A chunk: counted and dropped (its bytes never enter wasm).
                Either::Left((Ok(Some(chunk)), late)) => {
                    drained = drained.saturating_add(chunk.length());
                    deadline = late;
                }
                Either::Left(_) => break true,
                Either::Right(_) => break false,
            }
        };
        let _ = JsFuture::from(writer.close()).await;
        if !ended {
            let _ = upload.reader.cancel();
        }
    });
    Response::builder()
        .with_status(resp.status_code())
        .with_headers(resp.headers().clone())
        .body(ResponseBody::Stream(pipe.readable()))
}
