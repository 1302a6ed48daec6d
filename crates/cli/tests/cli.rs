//! The built `switchyard` binary, command by command: offline commands against the core's own
//! answers, online commands against a loopback HTTP server that records every request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use switchyard_core::base::{self, Xoshiro256};
use switchyard_core::config;
use switchyard_core::routing::{self, Inputs};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo() -> String {
    root().join("demo/config.json").display().to_string()
}

fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("SWITCHYARD_TOKEN")
        .env_remove("SWITCHYARD_URL")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// A file in a per-test temporary directory.
fn temp_file(test: &str, name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("switchyard-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn demo_value() -> Value {
    serde_json::from_str(&std::fs::read_to_string(demo()).unwrap()).unwrap()
}

/// A config with seven problems across the document.
const BROKEN: &str = r#"{
  "version": 1,
  "default_origin": "nowhere",
  "origins": { "a": { "url": "ftp://x" }, "b": { "url": "http://127.0.0.1:2" } },
  "routes": [
    { "name": "r1", "match": { "path_prefix": "/r1" },
      "strategy": { "kind": "ab", "arms": [ { "name": "x", "origin": "b", "weight": -1 }, { "name": "y", "origin": "zz", "weight": 1 } ] } },
    { "name": "r1", "match": { "path_prefix": "r2" }, "strategy": { "kind": "canary", "stable": "b", "canary": "b", "percent": 150 } }
  ]
}"#;

#[test]
fn validate_accepts_the_demo_config() {
    let o = run(&["validate", &demo()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = config::parse(&std::fs::read_to_string(demo()).unwrap())
        .unwrap()
        .id;
    assert!(
        stdout(&o).contains(&format!("valid: config {id}")),
        "{}",
        stdout(&o)
    );
    let j = json_out(&run(&["validate", "--json", &demo()]));
    assert_eq!(j["valid"], json!(true));
    assert_eq!(j["id"], json!(id));
    assert_eq!(j["routes"][0]["strategy"], json!("canary"));
}

#[test]
fn validate_lists_every_error_with_its_path_and_exits_1() {
    let f = temp_file("validate", "broken.json", BROKEN);
    let expected = config::parse(BROKEN).unwrap_err();
    assert!(expected.len() >= 6, "{expected:?}");
    let o = run(&["validate", &f]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    for e in &expected {
        assert!(
            out.contains(&format!("{}: {}", e.path, e.reason)),
            "missing {e} in {out}"
        );
    }
    assert!(out.contains(&format!("{} problem(s)", expected.len())));
    for path in [
        "$.default_origin",
        "$.origins.a.url",
        "$.routes[0].strategy.arms[0].weight",
        "$.routes[0].strategy.arms[1].origin",
        "$.routes[1].strategy.canary",
        "$.routes[1].match.path_prefix",
        "$.routes[1].strategy.percent",
    ] {
        assert!(out.contains(path), "{path} not in {out}");
    }
    let o = run(&["validate", "--json", &f]);
    assert_eq!(o.status.code(), Some(1));
    let j = json_out(&o);
    assert_eq!(j["valid"], json!(false));
    let paths: Vec<&str> = j["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = expected.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, want);
    // Not JSON at all: one error at the root.
    let g = temp_file("validate", "garbage.json", "{ nope");
    let o = run(&["validate", &g]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("$: invalid JSON"), "{}", stdout(&o));
}

#[test]
fn validate_takes_several_files() {
    let broken = temp_file("validate-many", "broken.json", BROKEN);
    let o = run(&["validate", &demo(), &demo()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches(": valid: config ").count(), 2);
    // One invalid file among valid ones: every file reported, exit 1.
    let o = run(&["validate", "--json", &demo(), &broken, &demo()]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdicts: Vec<(&str, bool)> = lines
        .iter()
        .map(|j| (j["file"].as_str().unwrap(), j["valid"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (demo().as_str(), true),
            (broken.as_str(), false),
            (demo().as_str(), true)
        ]
    );
    // An unreadable file is a usage error (exit 2), whatever the others are.
    let o = run(&["validate", &demo(), "/nonexistent/x.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read /nonexistent/x.json"));
}

#[test]
fn every_command_takes_json() {
    // Offline commands answer JSON with --json (the online ones are covered below).
    let o = run(&["schema", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&run(&["schema"])));
    assert_eq!(
        json_out(&o)["$id"],
        json!(switchyard_core::config::SCHEMA_ID)
    );
    assert!(json_out(&run(&["validate", "--json", &demo()]))["valid"]
        .as_bool()
        .unwrap());
    let e = json_out(&run(&[
        "explain",
        "--json",
        "--route",
        "fraud",
        "--unit",
        "alice",
        &demo(),
    ]));
    assert!(e["decision"]["arm"].is_string(), "{e}");
    let d = json_out(&run(&[
        "diff",
        "--json",
        "--units",
        "100",
        &demo(),
        &demo(),
    ]));
    assert!(d["routes"].is_array(), "{d}");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let o = run(&["validate", "/nonexistent/config.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read /nonexistent/config.json"));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["validate"]).status.code(), Some(2));
    let o = run(&["diff", &demo(), &demo(), "--units", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--units"));
    let o = run(&["explain", "--unit", "u", &demo()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--route"), "{}", stderr(&o));
    assert!(run(&["--help"]).status.success());
}

#[test]
fn validate_reads_stdin() {
    let mut child = Command::new(BIN)
        .args(["validate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(BROKEN.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("$.routes[1].strategy.percent"));
}

#[test]
fn explain_reports_the_cores_decision() {
    let text = std::fs::read_to_string(demo()).unwrap();
    let cfg = config::parse(&text).unwrap();
    for route in ["fraud", "ab"] {
        let idx = cfg.routes.iter().position(|r| r.name == route).unwrap();
        let r = &cfg.routes[idx];
        for unit in ["alice", "bob", "carol", "u1", "u2", "u3", "u4", "u5"] {
            let o = run(&[
                "explain",
                "--json",
                "--route",
                route,
                "--unit",
                unit,
                &demo(),
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            let j = json_out(&o);
            let h = base::hash(&r.split_salt, unit);
            assert_eq!(j["hash"], json!(format!("{h:016x}")));
            assert_eq!(j["bucket"], json!(base::bucket_ppm(h)));
            let headers: [(&str, &str); 0] = [];
            let view = routing::RequestView {
                method: "POST",
                host: "localhost",
                path: &r.matcher.path_prefix,
                query: None,
                headers: &headers,
                country: None,
            };
            let mut rng = Xoshiro256::seed_from_u64(0);
            let d = routing::decide(&cfg, idx, unit, &view, Inputs::default(), &mut rng);
            assert_eq!(j["decision"]["arm"], json!(d.arm), "{route}/{unit}");
            assert_eq!(j["decision"]["reason"], json!(d.reason.as_str()));
            assert_eq!(
                j["decision"]["origin"],
                json!(cfg.origin(d.origin).name),
                "{route}/{unit}"
            );
            if route == "ab" {
                // The winner has the highest rendezvous score.
                let arms = j["arms"].as_array().unwrap();
                let best = arms
                    .iter()
                    .max_by(|a, b| {
                        a["score"]
                            .as_f64()
                            .unwrap()
                            .total_cmp(&b["score"].as_f64().unwrap())
                    })
                    .unwrap();
                assert_eq!(best["arm"], json!(d.arm));
            } else {
                let in_canary = base::in_share(h, 200_000);
                assert_eq!(d.arm == "canary", in_canary);
            }
        }
    }
    let o = run(&["explain", "--route", "fraud", "--unit", "alice", &demo()]);
    let out = stdout(&o);
    for word in ["hash", "bucket", "decision", "reason", "shadow", "flag"] {
        assert!(out.contains(word), "{word} not in {out}");
    }
}

#[test]
fn explain_uses_state_headers_and_refuses_unknown_routes() {
    let cfg = config::parse(&std::fs::read_to_string(demo()).unwrap()).unwrap();
    let fp = &cfg.route("fraud").unwrap().fingerprint;
    let state = temp_file(
        "explain",
        "state.json",
        &json!({ "fingerprint": fp, "rolled_back": true }).to_string(),
    );
    // A unit inside the 20 % canary goes back to stable once the state says rolled back.
    let unit = (0..1000)
        .map(|i| format!("u{i}"))
        .find(|u| base::in_share(base::hash("fraud:split", u), 200_000))
        .unwrap();
    let j = json_out(&run(&[
        "explain",
        "--json",
        "--route",
        "fraud",
        "--unit",
        &unit,
        &demo(),
    ]));
    assert_eq!(j["decision"]["arm"], json!("canary"));
    let j = json_out(&run(&[
        "explain",
        "--json",
        "--route",
        "fraud",
        "--unit",
        &unit,
        "--state",
        &state,
        &demo(),
    ]));
    assert_eq!(j["decision"]["arm"], json!("stable"));
    assert_eq!(j["decision"]["reason"], json!("rolled_back"));

    // A flag rule on a header: on only when the header is sent.
    let mut doc = demo_value();
    doc["routes"][0]["flags"] = json!([{ "name": "beta", "rules": [{ "attr": "header:x-plan", "op": "eq", "values": ["pro"] }] }]);
    let f = temp_file("explain", "flags.json", &doc.to_string());
    let off = json_out(&run(&[
        "explain", "--json", "--route", "fraud", "--unit", "a", &f,
    ]));
    assert_eq!(off["flags"][0]["on"], json!(false));
    let on = json_out(&run(&[
        "explain",
        "--json",
        "--route",
        "fraud",
        "--unit",
        "a",
        "--header",
        "X-Plan: pro",
        &f,
    ]));
    assert_eq!(on["flags"][0]["on"], json!(true));

    let o = run(&["explain", "--route", "nope", "--unit", "a", &demo()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no route named \"nope\""),
        "{}",
        stderr(&o)
    );
    let broken = temp_file("explain", "broken.json", BROKEN);
    let o = run(&["explain", "--route", "r1", "--unit", "a", &broken]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("$.routes[1].strategy.percent"));
}

#[test]
fn diff_measures_churn_per_route() {
    let mut new = demo_value();
    new["routes"][0]["strategy"]["percent"] = json!(30);
    new["routes"][1]["strategy"]["arms"][0]["weight"] = json!(40);
    new["routes"][1]["strategy"]["arms"][1]["weight"] = json!(60);
    let nf = temp_file("diff", "new.json", &new.to_string());
    let o = run(&["diff", "--json", "--units", "20000", &demo(), &nf]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Progress went to stderr, the result alone to stdout.
    assert!(
        stderr(&o).contains("diff: 20000/20000 units"),
        "{}",
        stderr(&o)
    );
    let j = json_out(&o);
    assert_eq!(j["units"], json!(20000));
    let routes = j["routes"].as_array().unwrap();
    let fraud = routes.iter().find(|r| r["route"] == "fraud").unwrap();
    let ab = routes.iter().find(|r| r["route"] == "ab").unwrap();
    // Raising a canary 20 % -> 30 % moves only stable users, about 10 % of them all.
    assert_eq!(fraud["matrix"]["canary"]["stable"], json!(0));
    let moved = fraud["changed_arm"]["share"].as_f64().unwrap();
    assert!((0.09..0.11).contains(&moved), "{moved}");
    assert_eq!(
        fraud["matrix"]["stable"]["canary"],
        fraud["changed_arm"]["units"]
    );
    let canary_new = fraud["new_shares"]["canary"].as_f64().unwrap();
    assert!((0.29..0.31).contains(&canary_new), "{canary_new}");
    // 50/50 -> 40/60 with rendezvous hashing: about the minimum 10 % move, all to treatment.
    let moved = ab["changed_arm"]["share"].as_f64().unwrap();
    assert!((0.09..0.11).contains(&moved), "{moved}");
    assert_eq!(ab["matrix"]["treatment"]["control"], json!(0));
    let total: u64 = ab["matrix"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|row| row.as_object().unwrap().values())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, 20000);

    // The same config: nobody moves; few units: no progress lines.
    let o = run(&["diff", "--json", "--units", "500", &demo(), &demo()]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    for r in json_out(&o)["routes"].as_array().unwrap() {
        assert_eq!(r["status"], json!("unchanged"));
        assert_eq!(r["changed_arm"]["units"], json!(0));
    }

    // A route added and one removed; the text form names them.
    let mut renamed = demo_value();
    renamed["routes"][1]["name"] = json!("ab2");
    let rf = temp_file("diff", "renamed.json", &renamed.to_string());
    let o = run(&["diff", "--units", "1000", &demo(), &rf]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("route ab: ab -> (none) (removed)"), "{out}");
    assert!(out.contains("route ab2: (none) -> ab (added)"), "{out}");
    assert!(out.contains("changed arm"), "{out}");

    let broken = temp_file("diff", "broken.json", BROKEN);
    let o = run(&["diff", &demo(), &broken]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn schema_matches_the_checked_in_file() {
    let o = run(&["schema"]);
    assert!(o.status.success());
    // docs/ for editors and tools; www/ for the dashboard's editor (served as
    // /_switchyard/dashboard/config.schema.json).
    for file in ["docs/config.schema.json", "www/config.schema.json"] {
        let checked_in = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(
            stdout(&o) == checked_in,
            "{file} is stale: run `cargo run --bin switchyard -- schema > {file}`"
        );
    }
}

// ---- online commands against a recording loopback server ----

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Responder = dyn Fn(&Seen) -> (u16, Vec<(String, String)>, String) + Send + Sync;

/// Serves until the test ends; answers each request with `respond` and records it.
fn server(respond: Box<Responder>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let req = Seen {
                method,
                path,
                headers,
                body,
            };
            let (status, extra, text) = respond(&req);
            log.lock().unwrap().push(req);
            let mut resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                text.len()
            );
            for (k, v) in extra {
                resp.push_str(&format!("{k}: {v}\r\n"));
            }
            resp.push_str("\r\n");
            resp.push_str(&text);
            let _ = stream.write_all(resp.as_bytes());
        }
    });
    (url, seen)
}

#[test]
fn get_prints_the_text_in_force_and_its_version() {
    let text = std::fs::read_to_string(demo()).unwrap();
    let body = json!({ "config": serde_json::from_str::<Value>(&text).unwrap(), "text": text,
                       "validation": { "valid": true, "id": "ee5df7a0bcc8" } })
    .to_string();
    let (url, seen) = server(Box::new(move |_| {
        (200, vec![("etag".into(), "\"7\"".into())], body.clone())
    }));
    let o = run(&["get", "--url", &url, "--token", "sekrit"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim_end(), text.trim_end());
    assert!(stderr(&o).contains("version 7"), "{}", stderr(&o));
    let j = json_out(&run_env(
        &["get", "--json", "--url", &url],
        &[("SWITCHYARD_TOKEN", "from-env")],
    ));
    assert_eq!(j["etag_version"], json!("7"));
    assert_eq!(j["validation"]["id"], json!("ee5df7a0bcc8"));
    let s = seen.lock().unwrap().clone();
    assert_eq!(s.len(), 2);
    assert!(s
        .iter()
        .all(|r| r.method == "GET" && r.path == "/_switchyard/config"));
    assert_eq!(s[0].header("authorization"), Some("Bearer sekrit"));
    assert_eq!(s[1].header("authorization"), Some("Bearer from-env"));
}

#[test]
fn put_sends_the_text_with_if_match_and_message() {
    let (url, seen) = server(Box::new(|r| {
        if r.header("if-match") == Some("3") {
            (
                412,
                vec![],
                json!({ "error": { "code": "version_mismatch", "message": "config is at version 4, not 3" } }).to_string(),
            )
        } else {
            (
                200,
                vec![("etag".into(), "\"5\"".into())],
                json!({ "valid": true, "id": "abc123abc123", "written": true, "version": 5 })
                    .to_string(),
            )
        }
    }));
    let text = std::fs::read_to_string(demo()).unwrap();
    let o = run(&[
        "put",
        &demo(),
        "--url",
        &url,
        "--token",
        "t0k",
        "--if-match",
        "4",
        "--message",
        "raise canary to 30% — ok",
    ]);
    assert!(o.status.success(), "{} {}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("written: config abc123abc123 as version 5"),
        "{}",
        stdout(&o)
    );
    // A stale version: 412, exit 1, the server's reason shown.
    let o = run(&[
        "put",
        &demo(),
        "--url",
        &url,
        "--token",
        "t0k",
        "--if-match",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("HTTP 412") && out.contains("version 4, not 3"),
        "{out}"
    );
    assert!(out.contains("nothing was written"), "{out}");
    let j = json_out(&run(&[
        "put",
        "--json",
        &demo(),
        "--url",
        &url,
        "--if-match",
        "3",
    ]));
    assert_eq!(j["status"], json!(412));

    let s = seen.lock().unwrap().clone();
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].method, "PUT");
    // The message travels percent-encoded in `?message=`, which the server decodes (it
    // stores an `x-switchyard-message` header as sent): the history shows it as written.
    assert_eq!(
        s[0].path,
        "/_switchyard/config?message=raise%20canary%20to%2030%25%20%E2%80%94%20ok"
    );
    let (_, q) = s[0].path.split_once("?message=").unwrap();
    assert_eq!(
        switchyard_core::routing::percent_decode(q),
        "raise canary to 30% — ok"
    );
    assert_eq!(s[0].body, text.as_bytes(), "the file is sent byte for byte");
    assert_eq!(s[0].header("if-match"), Some("4"));
    assert_eq!(s[0].header("authorization"), Some("Bearer t0k"));
    assert_eq!(s[0].header("x-switchyard-message"), None);
    assert_eq!(s[1].path, "/_switchyard/config", "no message, no query");
    assert_eq!(s[2].header("authorization"), None);

    // An invalid config never leaves the machine.
    let broken = temp_file("put", "broken.json", BROKEN);
    let o = run(&["put", &broken, "--url", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("$.routes[1].strategy.percent"));
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn history_and_revert() {
    let (url, seen) = server(Box::new(|r| {
        if r.path == "/_switchyard/config/history" {
            (
                200,
                vec![],
                // The control plane's answer (docs/openapi.yaml, ConfigHistory).
                json!({ "current": 2, "keep": 50, "versions": [
                    { "version": 2, "config": "bbbbbbbbbbbb", "at": 1_700_000_000_000u64, "by": "alice", "message": "raise canary", "kind": "put" },
                    { "version": 1, "config": "aaaaaaaaaaaa", "at": 1_699_999_000_000u64, "by": "admin", "message": "", "kind": "external" }
                ]})
                .to_string(),
            )
        } else if r.path.starts_with("/_switchyard/config/revert/1") {
            (
                200,
                vec![("etag".into(), "\"3\"".into())],
                // The control plane's answer (docs/openapi.yaml, ConfigWritten).
                json!({ "version": 3, "config": "aaaaaaaaaaaa", "previous": 2, "at": 1_700_000_100_000u64 }).to_string(),
            )
        } else {
            (
                404,
                vec![],
                json!({ "error": { "code": "unknown_version", "message": "no version 9 in history" } }).to_string(),
            )
        }
    }));
    let o = run(&["history", "--url", &url, "--token", "t"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("VERSION"));
    assert!(lines[1].starts_with("2 ") && lines[1].contains("2023-11-14T22:13:20Z"));
    assert!(lines[1].contains("alice") && lines[1].contains("raise canary"));
    assert!(lines[2].starts_with("1 ") && lines[2].contains("aaaaaaaaaaaa"));
    let j = json_out(&run(&["history", "--json", "--url", &url]));
    assert_eq!(j["versions"][0]["version"], json!(2));

    let o = run(&[
        "revert",
        "1",
        "--url",
        &url,
        "--token",
        "t",
        "--message",
        "back to A ✓",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("reverted to version 1: config aaaaaaaaaaaa, now in force as version 3"),
        "{}",
        stdout(&o)
    );
    let o = run(&["revert", "9", "--url", &url, "--token", "t"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("no version 9"));
    // Not a version: refused before any request.
    assert_eq!(
        run(&["revert", "../x", "--url", &url]).status.code(),
        Some(2)
    );

    let s = seen.lock().unwrap().clone();
    let calls: Vec<(&str, &str)> = s
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/_switchyard/config/history"),
            ("GET", "/_switchyard/config/history"),
            (
                "POST",
                "/_switchyard/config/revert/1?message=back%20to%20A%20%E2%9C%93"
            ),
            ("POST", "/_switchyard/config/revert/9"),
        ]
    );
    assert_eq!(s[2].header("authorization"), Some("Bearer t"));
}

#[test]
fn unauthorized_and_unreachable() {
    let (url, _seen) = server(Box::new(|_| {
        (
            401,
            vec![],
            json!({ "error": "unauthorized", "message": "set ADMIN_TOKEN" }).to_string(),
        )
    }));
    let o = run(&["history", "--url", &url]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("HTTP 401")
            && out.contains("set ADMIN_TOKEN")
            && out.contains("SWITCHYARD_TOKEN"),
        "{out}"
    );
    // Nothing listens on a port just released: a network error, exit 2.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = run(&["get", "--url", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("GET http://127.0.0.1:"),
        "{}",
        stderr(&o)
    );
    assert_eq!(run(&["get", "--url", "ftp://x"]).status.code(), Some(2));
}
