//! `ConfigLog`: one Durable Object (name `global`) holding the config history and the audit
//! log in SQLite rows. Every config write goes through it, inside `blockConcurrencyWhile`, so
//! the version check (`If-Match`), the KV write and the new history row happen as one step:
//! two racing writers cannot both win, which KV alone cannot guarantee.
//!
//! A config written to KV outside the API (`wrangler kv key put`) is noticed on the next call
//! that reads the head (config GET, history, a write) and recorded as an `external` version.
//!
//! Only the control plane calls this object, with bodies and paths it builds itself: a call
//! the object cannot understand is our bug (500), never an operator's.

use serde::Deserialize;
use serde_json::json;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

use crate::http::{self, json};
use crate::shared::{now_ms, BINDING, CONFIG_KEY};
use switchyard_core::ops::Fault;
use switchyard_core::ops::{KEEP_AUDIT, KEEP_VERSIONS};

pub const LOG_BINDING: &str = "CONFIG_LOG";

#[durable_object]
pub struct ConfigLog {
    state: State,
    env: Env,
}

/// A config write: the text was validated by the control plane.
#[derive(Deserialize)]
struct Write {
    text: String,
    by: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    if_match: Option<i64>,
}

#[derive(Deserialize)]
struct Revert {
    version: i64,
    by: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    if_match: Option<i64>,
}

#[derive(Deserialize)]
struct AuditEntry {
    by: String,
    role: String,
    action: String,
    target: String,
    status: u16,
    #[serde(default)]
    detail: serde_json::Value,
}

struct Head {
    version: i64,
    config: String,
    at: i64,
    by: String,
    message: String,
    kind: String,
    text: String,
}

impl Head {
    fn json(&self, with_text: bool) -> serde_json::Value {
        let mut v = json!({
            "version": self.version, "config": self.config, "at": self.at,
            "by": self.by, "message": self.message, "kind": self.kind,
        });
        if with_text {
            v["text"] = json!(self.text);
        }
        v
    }
}

impl DurableObject for ConfigLog {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let sql = self.state.storage().sql();
        init(&sql)?;
        let path = req.path();
        let method = req.inner().method();
        let body = if method == "POST" {
            req.text().await?
        } else {
            String::new()
        };
        let env = self.env.clone();
        // Not `req.url()`: that links the `url` crate (and idna's tables, ~150 KB of wasm).
        let raw = req.inner().url();
        let query = raw
            .split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or("").to_string());
        // Everything runs gated: the object handles one call at a time, KV I/O included.
        let fut = async move {
            Ok(
                match handle(&sql, &env, &method, &path, &body, query.as_deref()).await {
                    Ok(r) => r,
                    Err(f) => http::fault(&f.relabel_internal("config_log_error")),
                },
            )
        };
        self.state.block_concurrency_while(fut).await
    }
}

async fn handle(
    sql: &SqlStorage,
    env: &Env,
    method: &str,
    path: &str,
    body: &str,
    query: Option<&str>,
) -> std::result::Result<Response, Fault> {
    match (method, path) {
        ("GET", "/current") => match notice_external(sql, env).await? {
            Some(h) => Ok(json(200, &h.json(true))),
            None => Err(Fault::not_found("no_config", "KV key `config` is empty")),
        },
        ("GET", "/history") => {
            let head = notice_external(sql, env).await?;
            let rows = sql.exec(
                "SELECT version, config, at, by, message, kind FROM versions ORDER BY version DESC",
                None,
            )?;
            let mut versions = Vec::new();
            for r in rows.raw() {
                let r = r?;
                versions.push(json!({
                    "version": int(&r, 0), "config": text(&r, 1), "at": int(&r, 2),
                    "by": text(&r, 3), "message": text(&r, 4), "kind": text(&r, 5),
                }));
            }
            Ok(json(
                200,
                &json!({ "current": head.map(|h| h.version), "keep": KEEP_VERSIONS, "versions": versions }),
            ))
        }
        ("POST", "/write") => {
            let w: Write = match serde_json::from_str(body) {
                Ok(w) => w,
                Err(e) => return Err(Fault::internal("bad_write", e.to_string())),
            };
            write(sql, env, &w.text, &w.by, &w.message, "put", w.if_match).await
        }
        ("POST", "/revert") => {
            let r: Revert = match serde_json::from_str(body) {
                Ok(r) => r,
                Err(e) => return Err(Fault::internal("bad_revert", e.to_string())),
            };
            let Some(old) = version(sql, r.version)? else {
                return Err(Fault::not_found(
                    "unknown_version",
                    format!(
                        "version {} is not in the history (the last {KEEP_VERSIONS} are kept)",
                        r.version
                    ),
                ));
            };
            if let Err(errors) = switchyard_core::config::parse(&old.text) {
                let list: Vec<_> = errors
                    .iter()
                    .map(|e| json!({ "path": e.path, "reason": e.reason }))
                    .collect();
                return Err(Fault::caller(
                    422,
                    "invalid_config",
                    format!(
                        "version {} does not validate now; nothing was written",
                        r.version
                    ),
                )
                .with_field("errors", list.into()));
            }
            let msg = if r.message.is_empty() {
                format!("revert to version {}", r.version)
            } else {
                format!("revert to version {}: {}", r.version, r.message)
            };
            write(sql, env, &old.text, &r.by, &msg, "revert", r.if_match).await
        }
        ("POST", "/audit") => {
            let a: AuditEntry = match serde_json::from_str(body) {
                Ok(a) => a,
                Err(e) => return Err(Fault::internal("bad_audit", e.to_string())),
            };
            audit(sql, &a)?;
            Ok(json(200, &json!({ "recorded": true })))
        }
        ("GET", "/audit") => {
            let limit = query
                .and_then(|q| {
                    q.split('&')
                        .find_map(|p| p.strip_prefix("limit="))
                        .and_then(|v| v.parse::<usize>().ok())
                })
                .unwrap_or(switchyard_core::ops::AUDIT_PAGE)
                .clamp(1, switchyard_core::ops::AUDIT_PAGE_MAX);
            let action = query.and_then(|q| q.split('&').find_map(|p| p.strip_prefix("action=")));
            let rows = match action {
                Some(a) => sql.exec(
                    "SELECT id, at, by, role, action, target, status, detail FROM audit WHERE action = ? ORDER BY id DESC LIMIT ?",
                    vec![a.into(), SqlStorageValue::Integer(limit as i64)],
                )?,
                None => sql.exec(
                    "SELECT id, at, by, role, action, target, status, detail FROM audit ORDER BY id DESC LIMIT ?",
                    vec![SqlStorageValue::Integer(limit as i64)],
                )?,
            };
            let mut entries = Vec::new();
            for r in rows.raw() {
                let r = r?;
                let mut detail: serde_json::Value =
                    serde_json::from_str(&text(&r, 7)).unwrap_or(serde_json::Value::Null);
                // Rows written before URLs were redacted on the way in are redacted here:
                // no role reads a webhook URL back from the audit.
                switchyard_core::ops::redact::json(&mut detail);
                entries.push(json!({
                    "id": int(&r, 0), "at": int(&r, 1), "by": text(&r, 2), "role": text(&r, 3),
                    "action": text(&r, 4), "target": text(&r, 5), "status": int(&r, 6), "detail": detail,
                }));
            }
            Ok(json(
                200,
                &json!({ "keep": KEEP_AUDIT, "entries": entries }),
            ))
        }
        _ => Err(Fault::internal("not_found", "unknown config-log action")),
    }
}

fn init(sql: &SqlStorage) -> Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS versions (version INTEGER PRIMARY KEY, config TEXT NOT NULL, \
         at INTEGER NOT NULL, by TEXT NOT NULL, message TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL)",
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, \
         by TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, \
         status INTEGER NOT NULL, detail TEXT NOT NULL)",
        None,
    )?;
    Ok(())
}

fn int(r: &[SqlStorageValue], i: usize) -> i64 {
    match r.get(i) {
        Some(SqlStorageValue::Integer(v)) => *v,
        Some(SqlStorageValue::Float(f)) => *f as i64,
        _ => 0,
    }
}

fn text(r: &[SqlStorageValue], i: usize) -> String {
    match r.get(i) {
        Some(SqlStorageValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn config_id(text: &str) -> String {
    switchyard_core::config::text_id(text)
}

fn row_to_head(r: &[SqlStorageValue]) -> Head {
    Head {
        version: int(r, 0),
        config: text(r, 1),
        at: int(r, 2),
        by: text(r, 3),
        message: text(r, 4),
        kind: text(r, 5),
        text: text(r, 6),
    }
}

const COLS: &str = "version, config, at, by, message, kind, text";

fn head(sql: &SqlStorage) -> Result<Option<Head>> {
    let c = sql.exec(
        &format!("SELECT {COLS} FROM versions ORDER BY version DESC LIMIT 1"),
        None,
    )?;
    match c.raw().next() {
        Some(r) => Ok(Some(row_to_head(&r?))),
        None => Ok(None),
    }
}

fn version(sql: &SqlStorage, v: i64) -> Result<Option<Head>> {
    let c = sql.exec(
        &format!("SELECT {COLS} FROM versions WHERE version = ?"),
        vec![SqlStorageValue::Integer(v)],
    )?;
    match c.raw().next() {
        Some(r) => Ok(Some(row_to_head(&r?))),
        None => Ok(None),
    }
}

/// Appends a version and trims the history to the last [`KEEP_VERSIONS`].
fn insert(sql: &SqlStorage, text: &str, by: &str, message: &str, kind: &str) -> Result<Head> {
    let next = head(sql)?.map_or(1, |h| h.version + 1);
    let h = Head {
        version: next,
        config: config_id(text),
        at: now_ms() as i64,
        by: by.to_string(),
        message: message.to_string(),
        kind: kind.to_string(),
        text: text.to_string(),
    };
    sql.exec(
        &format!("INSERT INTO versions ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
        vec![
            h.version.into(),
            h.config.as_str().into(),
            h.at.into(),
            h.by.as_str().into(),
            h.message.as_str().into(),
            h.kind.as_str().into(),
            h.text.as_str().into(),
        ],
    )?;
    sql.exec(
        "DELETE FROM versions WHERE version <= ?",
        vec![(next - KEEP_VERSIONS).into()],
    )?;
    Ok(h)
}

/// The head of the history, after recording the KV document as an `external` version when
/// it differs from the head (written with `wrangler kv key put`, or the first call ever).
async fn notice_external(sql: &SqlStorage, env: &Env) -> Result<Option<Head>> {
    let kv_text = env.kv(BINDING)?.get(CONFIG_KEY).text().await?;
    let h = head(sql)?;
    let Some(t) = kv_text else {
        return Ok(h);
    };
    if h.as_ref().is_some_and(|h| h.text == t) {
        return Ok(h);
    }
    let msg = match switchyard_core::config::parse(&t) {
        Ok(_) => "written to KV outside the API (noticed by the control plane)".to_string(),
        Err(e) => format!(
            "written to KV outside the API (noticed by the control plane); invalid: {} problem(s), not applied by the router",
            e.len()
        ),
    };
    Ok(Some(insert(sql, &t, "external", &msg, "external")?))
}

async fn write(
    sql: &SqlStorage,
    env: &Env,
    text: &str,
    by: &str,
    message: &str,
    kind: &str,
    if_match: Option<i64>,
) -> std::result::Result<Response, Fault> {
    let current = notice_external(sql, env).await?;
    let current_version = current.as_ref().map_or(0, |h| h.version);
    if let Some(expected) = if_match {
        if expected != current_version {
            return Err(Fault::caller(
                412,
                "stale_version",
                format!("If-Match names version {expected} but version {current_version} is in force; nothing was written"),
            )
            .with_field("current", current_version.into())
            .with_header("etag", switchyard_core::ops::etag(current_version)));
        }
    }
    env.kv(BINDING)?.put(CONFIG_KEY, text)?.execute().await?;
    let h = insert(sql, text, by, message, kind)?;
    let mut r = json(
        200,
        &json!({ "version": h.version, "config": h.config, "previous": current_version, "at": h.at }),
    );
    let _ = r
        .headers_mut()
        .set("etag", &switchyard_core::ops::etag(h.version));
    Ok(r)
}

fn audit(sql: &SqlStorage, a: &AuditEntry) -> Result<()> {
    let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let mut redacted = a.detail.clone();
    switchyard_core::ops::redact::json(&mut redacted);
    let detail = clip(&redacted.to_string(), 2000);
    sql.exec(
        "INSERT INTO audit (at, by, role, action, target, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        vec![
            (now_ms() as i64).into(),
            clip(&a.by, 64).into(),
            clip(&a.role, 16).into(),
            clip(&a.action, 32).into(),
            clip(&a.target, 128).into(),
            i64::from(a.status).into(),
            detail.into(),
        ],
    )?;
    sql.exec(
        "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?",
        vec![KEEP_AUDIT.into()],
    )?;
    Ok(())
}

/// Calls the log: `https://config-log<path>`.
pub async fn call(
    env: &Env,
    method: worker::Method,
    path: &str,
    body: Option<String>,
) -> Result<Response> {
    let stub = env
        .durable_object(LOG_BINDING)?
        .id_from_name("global")?
        .get_stub()?;
    let init = worker::web_sys::RequestInit::new();
    init.set_method(method.as_ref());
    if let Some(b) = body {
        init.set_body(&b.into());
    }
    let req = worker::web_sys::Request::new_with_str_and_init(
        &format!("https://config-log{path}"),
        &init,
    )?;
    stub.fetch_with_request(Request::from(req)).await
}
