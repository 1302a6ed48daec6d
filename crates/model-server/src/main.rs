//! A small, real model server for demos and end-to-end tests (std + serde_json only).
//!
//! ```text
//! cargo run --release -p switchyard-model-server -- --port 9001 --version v1 [--host 127.0.0.1] [--delay-ms 0]
//! ```
//!
//! KServe-v2-style predictions: `POST /v2/models/<name>/infer` (any POST path is accepted) with
//! `{"inputs":[{"name":"x","shape":[n],"datatype":"FP32","data":[numbers]}]}` answers
//! `{"model_name":..,"model_version":"v1","outputs":[{"name":"score","shape":[n],"datatype":"FP32","data":[..]}]}`.
//! Each version computes a different deterministic logistic score per input number.
//! `GET /health` and `GET /v2/health/ready` answer 200. Every response carries `x-model-version`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use serde_json::{json, Value};

#[derive(Clone)]
struct Opts {
    host: String,
    port: u16,
    version: String,
    delay_ms: u64,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 9001,
        version: "v1".into(),
        delay_ms: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--host" => o.host = val("--host")?,
            "--port" => o.port = val("--port")?.parse().map_err(|e| format!("--port: {e}"))?,
            "--version" => o.version = val("--version")?,
            "--delay-ms" => {
                o.delay_ms = val("--delay-ms")?
                    .parse()
                    .map_err(|e| format!("--delay-ms: {e}"))?
            }
            "-h" | "--help" => {
                println!("usage: model_server --port N --version vN [--host H] [--delay-ms MS]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// Logistic coefficients per model version: v1, v2 and v3 differ; any other name gets
/// coefficients derived deterministically from its bytes.
fn coefficients(version: &str) -> (f64, f64) {
    match version {
        "v1" => (0.5, -1.0),
        "v2" => (0.9, -0.5),
        "v3" => (1.3, 0.0),
        other => {
            let h = other.bytes().fold(17u32, |acc, b| {
                acc.wrapping_mul(31).wrapping_add(u32::from(b))
            });
            (
                0.1 + f64::from(h % 100) / 50.0,
                -1.0 + f64::from((h / 100) % 100) / 50.0,
            )
        }
    }
}

fn score(version: &str, x: f64) -> f64 {
    let (a, b) = coefficients(version);
    let s = 1.0 / (1.0 + (-(a * x + b)).exp());
    // Round to 6 decimals so the JSON is stable across platforms.
    (s * 1e6).round() / 1e6
}

struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request; Ok(None) on a clean EOF between requests.
fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<HttpRequest>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = HttpRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let mut size_line = String::new();
            r.read_line(&mut size_line)?;
            let size_hex = size_line.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0u8; size];
            r.read_exact(&mut chunk)?;
            req.body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        req.body = vec![0u8; len];
        r.read_exact(&mut req.body)?;
    }
    Ok(Some(req))
}

fn respond(
    w: &mut TcpStream,
    status: u16,
    version: &str,
    body: &Value,
    keep_alive: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-model-version: {version}\r\nconnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    // One write: head and body in separate segments would meet Nagle's algorithm and the
    // peer's delayed ACK, a ~40 ms stall per keep-alive request.
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    w.write_all(&out)?;
    w.flush()
}

fn infer(opts: &Opts, req: &HttpRequest) -> (u16, Value) {
    let parsed: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return (400, json!({"error": format!("invalid JSON body: {e}")})),
    };
    let Some(inputs) = parsed.get("inputs").and_then(Value::as_array) else {
        return (400, json!({"error": "body must have an \"inputs\" array"}));
    };
    let mut xs = Vec::new();
    for input in inputs {
        let Some(data) = input.get("data").and_then(Value::as_array) else {
            return (400, json!({"error": "each input needs a \"data\" array"}));
        };
        for d in data {
            match d.as_f64() {
                Some(x) => xs.push(x),
                None => return (400, json!({"error": "\"data\" must hold numbers"})),
            }
        }
    }
    let scores: Vec<f64> = xs.iter().map(|&x| score(&opts.version, x)).collect();
    // /v2/models/<name>/infer -> <name>; any other path -> "model".
    let path = req.path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let model_name = segs
        .iter()
        .position(|s| *s == "models")
        .and_then(|i| segs.get(i + 1))
        .copied()
        .unwrap_or("model");
    (
        200,
        json!({
            "model_name": model_name,
            "model_version": opts.version,
            "id": parsed.get("id").cloned().unwrap_or(Value::Null),
            "outputs": [{
                "name": "score",
                "shape": [scores.len()],
                "datatype": "FP32",
                "data": scores,
            }],
            "request": {
                "path": req.path,
                "flags": req.header("x-switchyard-flags"),
            },
        }),
    )
}

fn handle(opts: &Opts, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader)? {
        let keep_alive = !req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let path = req.path.split('?').next().unwrap_or("").to_string();
        let (status, body) = match (req.method.as_str(), path.as_str()) {
            ("GET", "/health") | ("GET", "/v2/health/ready") | ("GET", "/v2/health/live") => {
                (200, json!({"status": "ok", "model_version": opts.version}))
            }
            ("GET", "/v2") => (
                200,
                json!({"name": "switchyard-model-server", "version": opts.version}),
            ),
            ("POST", _) => {
                if opts.delay_ms > 0 {
                    std::thread::sleep(Duration::from_millis(opts.delay_ms));
                }
                infer(opts, &req)
            }
            ("GET", _) => (404, json!({"error": "not found", "path": path})),
            _ => (405, json!({"error": "method not allowed"})),
        };
        respond(&mut writer, status, &opts.version, &body, keep_alive)?;
        if !keep_alive {
            break;
        }
    }
    Ok(())
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("model_server: {e}");
            std::process::exit(2);
        }
    };
    let addr = format!("{}:{}", opts.host, opts.port);
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("model_server: cannot bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("model_server {} listening on http://{addr}", opts.version);
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let o = opts.clone();
                std::thread::spawn(move || {
                    if let Err(e) = handle(&o, s) {
                        if e.kind() != std::io::ErrorKind::WouldBlock
                            && e.kind() != std::io::ErrorKind::TimedOut
                        {
                            eprintln!("model_server: connection error: {e}");
                        }
                    }
                });
            }
            Err(e) => eprintln!("model_server: accept failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_score_differently_and_deterministically() {
        assert_eq!(score("v1", 2.0), score("v1", 2.0));
        assert_ne!(score("v1", 2.0), score("v2", 2.0));
        assert_ne!(score("v2", 2.0), score("v3", 2.0));
        // v1: sigmoid(0.5*2 - 1) = sigmoid(0) = 0.5
        assert_eq!(score("v1", 2.0), 0.5);
        assert!(score("v3", 10.0) > 0.99);
    }
}
