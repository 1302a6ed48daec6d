//! Isolate-wide state: the config cache, KV-backed weights and controller state, origin
//! health and the random generator. Lives in a `thread_local` (an isolate is single
//! threaded); never borrowed across an `.await`.

use std::cell::RefCell;
use std::rc::Rc;

use switchyard_core::base::Xoshiro256;
use switchyard_core::config::RouteState;
use switchyard_core::routing::ConfigCache;

/// Bounded staleness (README, "Bounded staleness"; `routing::freshness`): a value read from
/// KV is served as is for the TTL, then served while one background refresh runs, and never
/// served older than `MAX_AGE_MS`: a request that finds it older waits for a KV read (at most
/// `KV_WAIT_MS`). Only when KV itself fails or is slower than that is an older value served,
/// and the response says so in `x-switchyard-stale: <age ms>`.
///
/// How long a config read from KV is served before it is read again.
pub const CONFIG_TTL_MS: u64 = 2_000;
/// Same for `weights:<route>`, `layout:<route>` and `state:<route>`.
pub const ROUTE_KV_TTL_MS: u64 = 2_000;
/// The oldest a config, weights or state value may be and still be served without waiting
/// (TTL + 3 s).
pub const MAX_AGE_MS: u64 = 5_000;
/// How long a request waits for a KV read once its cached value is past `MAX_AGE_MS`; every
/// KV read (foreground or background) is abandoned after this long.
pub const KV_WAIT_MS: u64 = 2_000;
/// How long an origin health probe result is trusted.
pub const HEALTH_TTL_MS: u64 = 1_000;
/// A read marked as running for this long no longer blocks new ones (it was cut short).
pub const REFRESH_STUCK_MS: u64 = KV_WAIT_MS + 1_000;

/// A value read from KV (`None` value: the key was missing or invalid). `read_ms`: when KV
/// last answered; `checked_ms`: when it was last asked (later after a failed read);
/// `loading_ms`: since when a read is running.
pub struct Cached<T> {
    pub read_ms: Option<u64>,
    pub checked_ms: Option<u64>,
    pub loading_ms: Option<u64>,
    pub value: Option<Rc<T>>,
}

impl<T> Cached<T> {
    pub fn times(&self) -> switchyard_core::routing::KvTimes {
        switchyard_core::routing::KvTimes {
            read: self.read_ms,
            checked: self.checked_ms,
            loading: self.loading_ms,
        }
    }
}

/// A handful of entries keyed by route or origin name. A linear scan beats hashing at this
/// size, and it keeps a hash table implementation (~4 KB gzip) out of the bundle.
pub struct Keyed<V>(Vec<(String, V)>);

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Keyed(Vec::new())
    }
}

impl<V> Keyed<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn insert(&mut self, key: String, value: V) {
        match self.get_mut(&key) {
            Some(v) => *v = value,
            None => self.0.push((key, value)),
        }
    }
}

pub struct EdgeState {
    pub config: ConfigCache,
    /// Per key `weights:<route>` (raw bandit weights, resolved against arms at decision
    /// time, and their layout) or `layout:<route>` (an A/B route's layouts).
    pub docs: Keyed<Cached<crate::kv::RouteDoc>>,
    pub route_state: Keyed<Cached<RouteState>>,
    /// Origin base URL -> (checked at, healthy).
    pub health: Keyed<(u64, bool)>,
    pub rng: Xoshiro256,
    /// When the running config refresh started; a refresh that never finished (its
    /// `waitUntil` was cut short) stops blocking new ones after `REFRESH_STUCK_MS`.
    pub refreshing_since: Option<u64>,
}

thread_local! {
    static STATE: RefCell<EdgeState> = RefCell::new(EdgeState {
        config: ConfigCache::new(CONFIG_TTL_MS),
        docs: Keyed::default(),
        route_state: Keyed::default(),
        health: Keyed::default(),
        rng: Xoshiro256::seed_from_u64(seed()),
        refreshing_since: None,
    });
}

/// The seed of the isolate's (non-cryptographic) generator, which drives bandit sampling and
/// other per-request randomness that needs no secrecy: from the platform's CSPRNG.
fn seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        let hi = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        let lo = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        (hi << 32) ^ lo ^ now_ms()
    })
}

/// 64 bits from the platform's CSPRNG (`crypto.getRandomValues` through getrandom's
/// `wasm_js` backend): `sy_uid` values and receipt nonces, which must not be predictable
/// from earlier ones. workerd always provides `crypto`; should the call ever fail, the
/// isolate's generator (itself seeded from the CSPRNG) stands in and the failure is logged.
pub fn secure_u64() -> u64 {
    match getrandom::u64() {
        Ok(v) => v,
        Err(e) => {
            crate::js::error(&format!("switchyard: crypto.getRandomValues failed: {e}"));
            with(|s| switchyard_core::base::Rng::next_u64(&mut s.rng))
        }
    }
}

/// [`secure_u64`] as a [`Rng`](switchyard_core::base::Rng), for `routing::new_unit_id`.
pub struct SecureRng;

impl switchyard_core::base::Rng for SecureRng {
    fn next_u64(&mut self) -> u64 {
        secure_u64()
    }
}

pub fn with<R>(f: impl FnOnce(&mut EdgeState) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

pub use crate::js::{background, now_ms};
