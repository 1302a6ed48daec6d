//! Isolate-wide state: the config cache, KV-backed weights and controller state, origin
//! health and the random generator. Lives in a `thread_local` (an isolate is single
//! threaded); never borrowed across an `.await`.

use std::cell::RefCell;
use std::rc::Rc;

use switchyard_core::engine::ConfigCache;
use switchyard_core::rng::Xoshiro256;
use switchyard_core::strategy::RouteState;

/// How long a config read from KV is served before it is read again.
pub const CONFIG_TTL_MS: u64 = 2_000;
/// Same for `weights:<route>` and `state:<route>`.
pub const ROUTE_KV_TTL_MS: u64 = 2_000;
/// How long an origin health probe result is trusted.
pub const HEALTH_TTL_MS: u64 = 1_000;
pub const REFRESH_STUCK_MS: u64 = 10_000;

/// A value read from KV at `read_ms` (`None` value: the key was missing or invalid).
pub struct Cached<T> {
    pub read_ms: u64,
    pub value: Option<Rc<T>>,
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
    /// Raw bandit weights per route (resolved against arms at decision time).
    pub weights: Keyed<Cached<switchyard_core::strategy::Weights>>,
    pub route_state: Keyed<Cached<RouteState>>,
    /// Origin base URL -> (checked at, healthy).
    pub health: Keyed<(u64, bool)>,
    pub rng: Xoshiro256,
    /// When the running config refresh started; a refresh that never finished (its
    /// `wait_until` was cut short) stops blocking new ones after `REFRESH_STUCK_MS`.
    pub refreshing_since: Option<u64>,
}

thread_local! {
    static STATE: RefCell<EdgeState> = RefCell::new(EdgeState {
        config: ConfigCache::new(CONFIG_TTL_MS),
        weights: Keyed::default(),
        route_state: Keyed::default(),
        health: Keyed::default(),
        rng: Xoshiro256::seed_from_u64(seed()),
        refreshing_since: None,
    });
}

fn seed() -> u64 {
    let hi = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let lo = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (hi << 32) ^ lo ^ now_ms()
}

pub fn with<R>(f: impl FnOnce(&mut EdgeState) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

pub use switchyard_edge::shared::now_ms;
