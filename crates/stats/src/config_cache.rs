//! The stats worker's config (control plane and `RouteStats` objects): read from KV at most
//! once per [`RECHECK_MS`] per isolate, parsed again only when the text changed, and the last
//! valid one kept in force when the newest document is invalid or missing. The last valid
//! text is persisted in KV `config:last_valid` (written by this worker only, when its id
//! changes), so a restarted isolate keeps the guards running on it too.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{json, Value};
use worker::{console_error, console_warn, Env};

use crate::shared::{now_ms, BINDING, CONFIG_KEY};
use switchyard_core::config::{self, Config};

/// KV key of the last valid config text, written by the stats worker.
pub const LAST_VALID_KEY: &str = "config:last_valid";
/// KV is read again at most this often per isolate.
pub const RECHECK_MS: u64 = 1_000;

#[derive(Default)]
struct Cache {
    checked_ms: Option<u64>,
    /// `text` holds what KV answered at least once.
    loaded: bool,
    /// Newest text read from KV `config`.
    text: Option<String>,
    newest_id: Option<String>,
    newest_valid: bool,
    error: Option<String>,
    last_valid: Option<Rc<Config>>,
    /// Id known to be stored in `config:last_valid`.
    persisted_id: Option<String>,
    /// `config:last_valid` was already read after a start without a valid config.
    recovered: bool,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The config in force and what the newest KV document is.
pub struct View {
    /// The newest valid config, or the last valid one when the newest is invalid.
    pub config: Option<Rc<Config>>,
    /// `{"id", "valid", "error"?, "last_valid_id"}` (the `config` field of stats).
    pub status: Value,
}

/// The config view, reading KV when the last read is older than [`RECHECK_MS`].
pub async fn current(env: &Env) -> View {
    let now = now_ms();
    let due = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let due = c
            .checked_ms
            .is_none_or(|t| now.saturating_sub(t) >= RECHECK_MS);
        if due {
            c.checked_ms = Some(now); // one refresh at a time
        }
        due
    });
    if due {
        refresh(env).await;
    }
    CACHE.with(|c| view(&c.borrow()))
}

/// [`current`], read from KV again at once when the config in force has no route `route`: a
/// config written a moment ago (by `wrangler kv key put`, or through another isolate) may
/// name it. Operator calls, internal calls and credits of signed receipts use it (a route
/// that left the config costs one KV read per credit of its receipts, for their 24 h), so the
/// extra reads are bounded.
pub async fn current_for(env: &Env, route: &str) -> View {
    let v = current(env).await;
    if v.config.as_ref().is_some_and(|c| c.route(route).is_some()) {
        return v;
    }
    invalidate();
    current(env).await
}

/// Forget when KV was last read (after this worker wrote `config`).
pub fn invalidate() {
    CACHE.with(|c| c.borrow_mut().checked_ms = None);
}

fn view(c: &Cache) -> View {
    let mut status = json!({
        "id": c.newest_id,
        "valid": c.newest_valid,
        "last_valid_id": c.last_valid.as_ref().map(|l| l.id.clone()),
    });
    if let Some(e) = &c.error {
        status["error"] = json!(e);
    }
    View {
        config: c.last_valid.clone(),
        status,
    }
}

fn text_id(text: &str) -> String {
    config::text_id(text)
}

async fn refresh(env: &Env) {
    let kv = match env.kv(BINDING) {
        Ok(kv) => kv,
        Err(e) => {
            console_error!("switchyard-stats: KV binding {BINDING}: {e}");
            return;
        }
    };
    let text = match kv.get(CONFIG_KEY).text().await {
        Ok(t) => t,
        Err(e) => {
            // Keep what is in force; read again after RECHECK_MS.
            console_error!("switchyard-stats: KV get {CONFIG_KEY}: {e}");
            return;
        }
    };
    let unchanged = CACHE.with(|c| {
        let c = c.borrow();
        c.loaded && c.text == text
    });
    if unchanged {
        return;
    }
    CACHE.with(|c| c.borrow_mut().loaded = true);
    let (persist, recover) = match &text {
        None => CACHE.with(|c| {
            let mut c = c.borrow_mut();
            c.text = None;
            c.newest_id = None;
            c.newest_valid = false;
            c.error = Some(format!("KV key `{CONFIG_KEY}` is missing"));
            (None, c.last_valid.is_none() && !c.recovered)
        }),
        Some(t) => match config::parse(t) {
            Ok(cfg) => CACHE.with(|c| {
                let mut c = c.borrow_mut();
                let id = cfg.id.clone();
                c.text = text.clone();
                c.newest_id = Some(id.clone());
                c.newest_valid = true;
                c.error = None;
                c.last_valid = Some(Rc::new(cfg));
                let persist = (c.persisted_id.as_deref() != Some(id.as_str())).then_some(id);
                (persist, false)
            }),
            Err(errors) => CACHE.with(|c| {
                let mut c = c.borrow_mut();
                // Logged and shown beside statistics: URLs with their secret parts redacted
                // (admins read the full errors with GET /_switchyard/config).
                let summary = switchyard_core::ops::redact::text(
                    &errors
                        .iter()
                        .take(5)
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )
                .into_owned();
                console_warn!(
                    "switchyard-stats: config in KV is invalid, keeping {}: {summary}",
                    c.last_valid
                        .as_ref()
                        .map_or("none".to_string(), |l| l.id.clone())
                );
                c.text = text.clone();
                c.newest_id = Some(text_id(t));
                c.newest_valid = false;
                c.error = Some(format!("{} problem(s): {summary}", errors.len()));
                (None, c.last_valid.is_none() && !c.recovered)
            }),
        },
    };
    if let (Some(id), Some(t)) = (persist, text) {
        // Written only when the stored copy differs (read first: many isolates see the change).
        let stored = kv.get(LAST_VALID_KEY).text().await;
        let same = matches!(&stored, Ok(Some(s)) if text_id(s) == id);
        let ok = same
            || match kv.put(LAST_VALID_KEY, t) {
                Ok(put) => put.execute().await.is_ok(),
                Err(_) => false,
            };
        if ok {
            CACHE.with(|c| c.borrow_mut().persisted_id = Some(id));
        } else {
            console_error!("switchyard-stats: could not write {LAST_VALID_KEY}");
        }
    }
    if recover {
        CACHE.with(|c| c.borrow_mut().recovered = true);
        match kv.get(LAST_VALID_KEY).text().await {
            Ok(Some(t)) => match config::parse(&t) {
                Ok(cfg) => {
                    console_warn!(
                        "switchyard-stats: using the last valid config {} from {LAST_VALID_KEY}",
                        cfg.id
                    );
                    CACHE.with(|c| {
                        let mut c = c.borrow_mut();
                        c.persisted_id = Some(cfg.id.clone());
                        if c.last_valid.is_none() {
                            c.last_valid = Some(Rc::new(cfg));
                        }
                    });
                }
                Err(_) => console_error!("switchyard-stats: {LAST_VALID_KEY} is invalid"),
            },
            Ok(None) => {}
            Err(e) => {
                CACHE.with(|c| c.borrow_mut().recovered = false);
                console_error!("switchyard-stats: KV get {LAST_VALID_KEY}: {e}");
            }
        }
    }
}
