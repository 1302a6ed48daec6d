//! A route's learning state in tables, not one value: the receipt ledger as rows keyed by
//! receipt id (with an expiry, pruned in bounded batches), the aggregates as small rows
//! updated in place, kept in a [`Store`](super::Store) (`super::store`).
//!
//! Rows (`kind`, `key`) -> JSON `value`:
//! - `meta`/`learner`: the [`Learner`] without its aggregates (route, fingerprint,
//!   controller state, weights, sequential tests, timestamps; fields added to `Learner`
//!   later are carried along by serde);
//! - `total`/`<arm>`, `window`/`<arm>`: [`ArmAggregate`];
//! - `total_shadow`/`<origin>`, `window_shadow`/`<origin>`: `ShadowCounts`;
//! - `shard_seen`/`<shard>/<arm>`: the reward sums of a ledger shard already merged;
//!
//! and unit rows (`epoch`, `unit`, `arm`) -> [`UnitRow`] ([`Write::Unit`](super::Write::Unit),
//! [`Store::unit_rows`](super::Store::unit_rows)): what each unit did under each split (`super::experiment`), read and
//! written per batch, deleted in bounded batches once their split is retired.
//!
//! Every change is computed on a copy of the in-memory [`Learner`], written as one batch
//! ([`Store::apply`], all or nothing), and only then becomes the in-memory state: a failed
//! write leaves memory and storage as they were, and the client's retry succeeds.
//! A report writes the rows of the arms and shadows it touches plus `meta`; a credit writes
//! one receipt row and two arm rows: O(1) time and bytes whatever the history. A tick
//! rewrites the route's rows (bounded by its arms and shadows).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decisions::{
    draw_of, LogSampler, EARLY_REWARD_KEEP_MS, LOG_PRUNE_BATCH, LOG_RETENTION_MS,
};
use super::experiment::{UnitKey, UnitRows, MAX_UNIT_ROWS};
use super::learner::{check_credit, FeedbackError, Learner};
use super::operate::{OperateError, Operation};
use super::series::Series;
use super::store::{ApplyError, LoggedDecision, Store, StoreError, Warnings, Write};
use super::tick::TickOutput;
use crate::base::Rng;
use crate::config::Route;
use crate::config::RouteState;
use crate::observe::{ArmAggregate, Batch, OpeSums};
use crate::receipt::{ReceiptId, MAX_SKEW_MS};
use crate::statistics::UnitRow;

/// Expired receipt rows deleted per alarm, at most.
pub const PRUNE_BATCH: u32 = 5_000;
/// Most ledger shards a route may have (`feedback_shards` in the config).
pub const MAX_SHARDS: u32 = 64;
/// Separator between a route name and its shard number in a ledger shard's object name
/// (`<route>~<k>`); route names never contain it.
pub const SHARD_SEP: char = '~';

pub const META: &str = "meta";
pub const TOTAL: &str = "total";
pub const WINDOW: &str = "window";
pub const TOTAL_SHADOW: &str = "total_shadow";
pub const WINDOW_SHADOW: &str = "window_shadow";
pub const SHARD_SEEN: &str = "shard_seen";
const META_KEY: &str = "learner";

/// A [`Store`]'s unit rows, as the learner reads them.
struct StoreUnits<'a, S: Store>(&'a S);

impl<S: Store> UnitRows for StoreUnits<'_, S> {
    fn unit_rows(&self, keys: &[UnitKey]) -> Result<Vec<Option<UnitRow>>, StoreError> {
        self.0.unit_rows(keys)
    }
}

/// Reward sums of one arm (what a ledger shard reports to its route's object).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RewardSums {
    pub count: u64,
    pub sum: f64,
    pub sq_sum: f64,
    /// The off-policy-evaluation sums of the credits (their credit half).
    #[serde(skip_serializing_if = "OpeSums::is_empty")]
    pub ope: OpeSums,
}

impl RewardSums {
    pub fn of(a: &ArmAggregate) -> Self {
        Self {
            count: a.reward_count,
            sum: a.reward_sum,
            sq_sum: a.reward_sq_sum,
            ope: a.ope,
        }
    }

    fn plausible(&self) -> bool {
        self.sum.is_finite()
            && self.sq_sum.is_finite()
            && self.sq_sum >= 0.0
            && self.ope.plausible()
    }
}

/// The object name of ledger shard `k` of `route` (shard 0 is the route's own object).
pub fn shard_object_name(route: &str, k: u32) -> String {
    if k == 0 {
        route.to_string()
    } else {
        format!("{route}{SHARD_SEP}{k}")
    }
}

/// (route, shard) of an object name.
pub fn parse_object_name(name: &str) -> (&str, u32) {
    match name.split_once(SHARD_SEP) {
        Some((route, k)) => (route, k.parse().unwrap_or(0)),
        None => (name, 0),
    }
}

/// The shard (of `shards`) that credits receipt `id`: always the same one for an id, so a
/// replay reaches the ledger that holds it.
pub fn shard_of(id: &ReceiptId, shards: u32) -> u32 {
    let n = shards.clamp(1, MAX_SHARDS);
    let x = u32::from_be_bytes([id.0[0], id.0[1], id.0[2], id.0[3]]);
    x % n
}

/// The ledger shard that credits a receipt: by the shard count signed into it (`v2`
/// receipts, [`Receipt::shards`](crate::receipt::Receipt::shards)), else by the route's
/// configured `feedback_shards` (`v1` receipts, issued before the count was signed).
/// Changing `feedback_shards` therefore never moves a `v2` receipt to another shard, whose
/// ledger would not know it had been credited.
pub fn credit_shard(id: &ReceiptId, signed: Option<u32>, configured: u32) -> u32 {
    shard_of(id, signed.unwrap_or(configured))
}

/// When a receipt row may be forgotten: its receipt would be refused as expired anyway.
pub fn receipt_expiry(issued_ms: u64, max_age_ms: u64) -> u64 {
    issued_ms
        .saturating_add(max_age_ms)
        .saturating_add(MAX_SKEW_MS)
}

/// A route's [`Learner`] kept in a [`Store`].
pub struct Durable<S: Store> {
    store: S,
    learner: Learner,
    /// `<shard>/<arm>` -> sums already merged from that ledger shard.
    seen: BTreeMap<String, RewardSums>,
    /// Minute buckets and controller history (`core::learn::Series`), written in the same batches.
    series: Series,
    /// Which decisions the decision log keeps this minute (`super::decisions`).
    sampler: LogSampler,
    /// Ledger shard number of this object (0: the route's own object, which keeps the
    /// decision log).
    shard: u32,
    /// Unit rows kept at most ([`MAX_UNIT_ROWS`]; smaller in tests).
    unit_cap: u64,
}

impl<S: Store> Durable<S> {
    /// Loads the rows of `route`. A row that fails to decode is skipped and reported in the
    /// warnings; a storage error is an error.
    pub fn open(store: S, route: &str) -> Result<(Self, Warnings), StoreError> {
        let mut warnings = Vec::new();
        let mut learner = Learner::new(route);
        for (key, value) in store.rows(META)? {
            if key != META_KEY {
                continue;
            }
            match serde_json::from_str::<Learner>(&value) {
                Ok(mut l) => {
                    if !l.route.is_empty() && l.route != route {
                        warnings.push(format!(
                            "meta row names route {:?}, the object is {route:?}",
                            l.route
                        ));
                    }
                    l.route = route.to_string();
                    l.total.route = route.to_string();
                    l.window.route = route.to_string();
                    l.total.arms.clear();
                    l.total.shadows.clear();
                    l.window.arms.clear();
                    l.window.shadows.clear();
                    l.replay = Default::default();
                    learner = l;
                }
                Err(e) => warnings.push(format!("meta row unreadable, skipped: {e}")),
            }
        }
        decode_into(&store, TOTAL, &mut learner.total.arms, &mut warnings)?;
        decode_into(&store, WINDOW, &mut learner.window.arms, &mut warnings)?;
        decode_into(
            &store,
            TOTAL_SHADOW,
            &mut learner.total.shadows,
            &mut warnings,
        )?;
        decode_into(
            &store,
            WINDOW_SHADOW,
            &mut learner.window.shadows,
            &mut warnings,
        )?;
        let mut seen = BTreeMap::new();
        decode_into(&store, SHARD_SEEN, &mut seen, &mut warnings)?;
        let series = Series::load(&store, &mut warnings)?;
        Ok((
            Self {
                store,
                learner,
                seen,
                series,
                sampler: LogSampler::default(),
                shard: parse_object_name(route).1,
                unit_cap: MAX_UNIT_ROWS,
            },
            warnings,
        ))
    }

    pub fn learner(&self) -> &Learner {
        &self.learner
    }

    /// Keeps at most `cap` unit rows instead of [`MAX_UNIT_ROWS`] (tests of the cap).
    pub fn set_unit_cap(&mut self, cap: u64) {
        self.unit_cap = cap;
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Whether anything was ever stored for this object (used by the legacy import).
    pub fn is_blank(&self) -> Result<bool, StoreError> {
        Ok(self.store.rows(META)?.is_empty())
    }

    /// Folds a batch of observations in; returns how many entries were merged. Reads the
    /// rows of the batch's units and writes them back (one row per distinct unit).
    pub fn report(&mut self, batch: &Batch, now_ms: u64) -> Result<usize, StoreError> {
        let mut next = self.learner.clone();
        let merged = next.report(batch, now_ms);
        let units = next.report_units(batch, now_ms, &StoreUnits(&self.store), self.unit_cap)?;
        let route = next.route.clone();
        let mut writes: Vec<Write> = units.into_iter().map(|(k, r)| Write::Unit(k, r)).collect();
        for a in batch.arms.iter().filter(|a| a.route == route) {
            put_arm(&mut writes, &next, &a.arm);
        }
        for s in batch.shadows.iter().filter(|s| s.route == route) {
            put_shadow(&mut writes, &next, &s.shadow_origin);
        }
        writes.push(meta_write(&mut next)?);
        let mut series = self.series.clone();
        series.report(&route, &batch.arms, &batch.shadows, now_ms, &mut writes);
        // The decision log (route object only): kept or sampled (`super::decisions`).
        let mut sampler = self.sampler.clone();
        if self.shard == 0 {
            for (_, row) in batch.decisions.iter().filter(|(r, _)| *r == route) {
                if let Some(rate) = sampler.admit(now_ms, draw_of(&row.id)) {
                    writes.push(Write::LogDecision {
                        row: row.clone(),
                        rate,
                    });
                }
            }
        }
        self.commit(next, writes).map_err(store_only)?;
        self.series = series;
        self.sampler = sampler;
        Ok(merged)
    }

    /// Credits one reward, once per receipt id (the ledger row and the aggregate rows are
    /// written together or not at all).
    pub fn credit(
        &mut self,
        id: ReceiptId,
        arm: &str,
        reward: f64,
        issued_ms: u64,
        now_ms: u64,
        max_age_ms: u64,
    ) -> Result<Result<(), FeedbackError>, StoreError> {
        self.credit_unit(
            id, arm, None, None, reward, issued_ms, now_ms, max_age_ms, None,
        )
    }

    /// [`Durable::credit`] of a receipt that names its `unit` (its 64-bit key): the unit's
    /// row is credited too, under the most recent live split that knows the unit, else under
    /// the split in force. `route`: the route's config in force (the route's own object;
    /// `None` on a ledger shard, whose unit rows nobody reads), which says that split even
    /// before the first report or tick. `ppm`: the decision's propensity from its receipt: the
    /// reward also enters the off-policy-evaluation sums and (in the route's own object) is
    /// joined to the decision log.
    #[allow(clippy::too_many_arguments)]
    pub fn credit_unit(
        &mut self,
        id: ReceiptId,
        arm: &str,
        unit: Option<u64>,
        route: Option<&Route>,
        reward: f64,
        issued_ms: u64,
        now_ms: u64,
        max_age_ms: u64,
        ppm: Option<u32>,
    ) -> Result<Result<(), FeedbackError>, StoreError> {
        if let Err(e) = check_credit(arm, reward) {
            return Ok(Err(e));
        }
        if receipt_expiry(issued_ms, max_age_ms) < now_ms {
            // Its row would be pruned at once; the control plane refuses it as expired.
            return Ok(Err(FeedbackError::BadReward("receipt expired".into())));
        }
        let mut next = self.learner.clone();
        if let Err(e) = next.credit_logged(arm, reward, ppm) {
            return Ok(Err(e));
        }
        let mut writes = vec![Write::NewReceipt {
            id: id.0,
            expires_ms: receipt_expiry(issued_ms, max_age_ms),
        }];
        put_arm(&mut writes, &next, arm);
        if ppm.is_some() && self.shard == 0 {
            writes.push(Write::LogReward {
                id: id.to_string(),
                reward,
                at: now_ms,
            });
        }
        if let Some(unit) = unit {
            let seen = (next.epochs.live.len(), next.epochs.in_force.clone());
            let credited = next.credit_unit(
                arm,
                unit,
                reward,
                (route, now_ms),
                &StoreUnits(&self.store),
                self.unit_cap,
            )?;
            if let Some((k, r)) = &credited {
                writes.push(Write::Unit(k.clone(), *r));
            }
            // The unit's sums, or a split noted or opened, live in `meta`.
            if credited.is_some() || seen != (next.epochs.live.len(), next.epochs.in_force.clone())
            {
                writes.push(meta_write(&mut next)?);
            }
        }
        let mut series = self.series.clone();
        series.reward(arm, 1, reward, now_ms, &mut writes);
        match self.commit(next, writes) {
            Ok(()) => {
                self.series = series;
                Ok(Ok(()))
            }
            Err(ApplyError::Conflict) => Ok(Err(FeedbackError::Replayed)),
            Err(ApplyError::Store(e)) => Err(StoreError(e)),
        }
    }

    /// One learning step: merges the ledger shards' reward sums (`shards`: shard number ->
    /// arm -> cumulative sums, as [`Durable::reward_sums`] answers in each shard), then runs
    /// [`Learner::tick`] and stores the result.
    pub fn tick<R: Rng>(
        &mut self,
        route: &Route,
        now_ms: u64,
        rng: &mut R,
        shards: &[(u32, BTreeMap<String, RewardSums>)],
    ) -> Result<(TickOutput, Warnings), StoreError> {
        let mut next = self.learner.clone();
        let mut seen = self.seen.clone();
        let warnings = merge_shards(&mut next, &mut seen, shards);
        let mut series = self.series.clone();
        let mut series_writes = Vec::new();
        // Rewards merged from the ledger shards count in the current minute.
        for (arm, a) in &next.total.arms {
            let before = self.learner.total.arms.get(arm);
            let count = a
                .reward_count
                .saturating_sub(before.map_or(0, |b| b.reward_count));
            let sum = a.reward_sum - before.map_or(0.0, |b| b.reward_sum);
            series.reward(arm, count, sum, now_ms, &mut series_writes);
        }
        let old_fp = next.fingerprint.clone();
        let old_state = next.state.clone();
        let out = next.tick(route, now_ms, rng);
        let config_changed = (!old_fp.is_empty() && old_fp != route.fingerprint).then(|| {
            format!(
                "strategy changed (fingerprint {old_fp} → {})",
                route.fingerprint
            )
        });
        // A gate decision that changed the state rides on that change's event; one that did not
        // (a shadow gate turning to failing) is a `gate` event of its own.
        let evidence = out.gate.as_ref().map(|g| &g.evidence);
        series.state_change_with(
            route,
            old_state.as_ref(),
            next.state.as_ref(),
            None,
            config_changed.as_deref(),
            evidence,
            now_ms,
            &mut series_writes,
        );
        if let (Some(g), None) = (&out.gate, &out.state) {
            let pct = crate::learn::canary_percent(route, next.state.as_ref());
            series.event_with(
                "gate",
                &g.summary,
                pct,
                evidence,
                now_ms,
                &mut series_writes,
            );
        }
        if let Some(w) = &out.weights {
            series.weights(w, now_ms, &mut series_writes);
        }
        let mut writes = full_rewrite(&mut next, &seen)?;
        writes.extend(series_writes);
        self.commit(next, writes).map_err(store_only)?;
        self.seen = seen;
        self.series = series;
        Ok((out, warnings))
    }

    /// An operator's rollback, resume or promote ([`Learner::operate`]), stored like a tick
    /// (every row rewritten: an action may reset the controller window). A refused action
    /// changes nothing.
    pub fn operate(
        &mut self,
        route: &Route,
        op: Operation,
        now_ms: u64,
    ) -> Result<Result<TickOutput, OperateError>, StoreError> {
        let mut next = self.learner.clone();
        let old_state = next.state.clone();
        let out = match next.operate(route, op, now_ms) {
            Ok(out) => out,
            Err(e) => return Ok(Err(e)),
        };
        let mut writes = full_rewrite(&mut next, &self.seen)?;
        let mut series = self.series.clone();
        series.state_change(
            route,
            old_state.as_ref(),
            next.state.as_ref(),
            Some(op.as_str()),
            None,
            now_ms,
            &mut writes,
        );
        if let Some(w) = &out.weights {
            series.weights(w, now_ms, &mut writes);
        }
        self.commit(next, writes).map_err(store_only)?;
        self.series = series;
        Ok(Ok(out))
    }

    /// Adopts an operator's controller state in a new epoch (`route`: the route in force, to
    /// record the change in the series); returns the state as stored, to write to KV.
    pub fn set_state(
        &mut self,
        st: RouteState,
        route: Option<&Route>,
        now_ms: u64,
    ) -> Result<RouteState, StoreError> {
        let mut next = self.learner.clone();
        let old = next.state.clone();
        let st = next.adopt(st);
        let mut writes = vec![meta_write(&mut next)?];
        let mut series = self.series.clone();
        if let Some(route) = route {
            series.state_change(
                route,
                old.as_ref(),
                next.state.as_ref(),
                None,
                None,
                now_ms,
                &mut writes,
            );
        }
        self.commit(next, writes).map_err(store_only)?;
        self.series = series;
        Ok(st)
    }

    /// Appends a controller event (e.g. `srm`) to the series.
    pub fn record_event(
        &mut self,
        route: &Route,
        kind: &str,
        detail: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut series = self.series.clone();
        let mut writes = Vec::new();
        let pct = crate::learn::canary_percent(route, self.learner.state.as_ref());
        series.event(kind, detail, pct, now_ms, &mut writes);
        self.store.apply(writes).map_err(store_only)?;
        self.series = series;
        Ok(())
    }

    /// Deletes up to `limit` minute rows older than a day; returns how many.
    pub fn prune_series(&mut self, now_ms: u64, limit: usize) -> Result<usize, StoreError> {
        let mut series = self.series.clone();
        let writes = series.prune(now_ms, limit);
        let n = writes.len();
        if n > 0 {
            self.store.apply(writes).map_err(store_only)?;
            self.series = series;
        }
        Ok(n)
    }

    /// The series document of the last `minutes` minutes (`GET /_switchyard/series/<route>`).
    pub fn series_document(
        &self,
        minutes: u64,
        now_ms: u64,
    ) -> Result<(serde_json::Value, Warnings), StoreError> {
        self.series
            .document(&self.learner.route, &self.store, minutes, now_ms)
    }

    pub fn series(&self) -> &Series {
        &self.series
    }

    /// Imports a learner stored by an older version (one JSON value): its aggregates and
    /// state, and its replay guard's ids as ledger rows.
    pub fn import_legacy(
        &mut self,
        old: Learner,
        receipts: Vec<(ReceiptId, u64)>,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let mut next = old;
        next.route = self.learner.route.clone();
        next.total.route = next.route.clone();
        next.window.route = next.route.clone();
        next.replay = Default::default();
        let mut writes = full_rewrite(&mut next, &self.seen)?;
        let mut imported = 0;
        for (id, expires_ms) in receipts {
            if expires_ms >= now_ms {
                writes.push(Write::NewReceipt {
                    id: id.0,
                    expires_ms,
                });
                imported += 1;
            }
        }
        self.commit(next, writes).map_err(store_only)?;
        Ok(imported)
    }

    /// This object's reward sums per arm (a ledger shard answers these to its route).
    pub fn reward_sums(&self) -> BTreeMap<String, RewardSums> {
        self.learner
            .total
            .arms
            .iter()
            .map(|(k, a)| (k.clone(), RewardSums::of(a)))
            .collect()
    }

    /// Rewards merged so far from each ledger shard (shard number -> count).
    pub fn merged_from_shards(&self) -> BTreeMap<u32, u64> {
        let mut out = BTreeMap::new();
        for (key, s) in &self.seen {
            if let Some(k) = key.split('/').next().and_then(|k| k.parse().ok()) {
                *out.entry(k).or_insert(0u64) += s.count;
            }
        }
        out
    }

    /// Deletes up to `limit` expired receipt rows, and decision-log rows past their
    /// retention (at most `LOG_PRUNE_BATCH`); returns how many receipt rows.
    pub fn prune(&self, now_ms: u64, limit: u32) -> Result<u32, StoreError> {
        let n = self.store.prune_receipts(now_ms, limit)?;
        self.prune_log(now_ms)?;
        Ok(n)
    }

    /// Deletes decision-log rows older than the retention and early rewards that waited
    /// too long, at most `LOG_PRUNE_BATCH` of each; returns how many.
    pub fn prune_log(&self, now_ms: u64) -> Result<u32, StoreError> {
        self.store.prune_decisions(
            now_ms.saturating_sub(LOG_RETENTION_MS),
            now_ms.saturating_sub(EARLY_REWARD_KEEP_MS),
            LOG_PRUNE_BATCH,
        )
    }

    /// A page of the decision log (`GET /_switchyard/decisions/<route>`).
    pub fn decision_page(
        &self,
        after: Option<(u64, String)>,
        limit: u32,
    ) -> Result<Vec<LoggedDecision>, StoreError> {
        self.store.decision_page(after, limit)
    }

    /// Deletes up to `limit` unit rows of retired splits (oldest first); returns how many.
    pub fn prune_units(&mut self, limit: u32) -> Result<u32, StoreError> {
        let Some(r) = self.learner.epochs.retired.first().copied() else {
            return Ok(0);
        };
        let n = self.store.delete_units(r.id, limit)?;
        let mut next = self.learner.clone();
        next.epochs.pruned(u64::from(n), n < limit);
        let writes = vec![meta_write(&mut next)?];
        self.commit(next, writes).map_err(store_only)?;
        Ok(n)
    }

    fn commit(&mut self, next: Learner, writes: Vec<Write>) -> Result<(), ApplyError> {
        self.store.apply(writes)?;
        self.learner = next;
        Ok(())
    }
}

fn store_only(e: ApplyError) -> StoreError {
    match e {
        ApplyError::Conflict => StoreError("unexpected receipt conflict".into()),
        ApplyError::Store(s) => StoreError(s),
    }
}

fn decode_into<S: Store, T: serde::de::DeserializeOwned>(
    store: &S,
    kind: &str,
    into: &mut BTreeMap<String, T>,
    warnings: &mut Warnings,
) -> Result<(), StoreError> {
    for (key, value) in store.rows(kind)? {
        match serde_json::from_str::<T>(&value) {
            Ok(v) => {
                into.insert(key, v);
            }
            Err(e) => warnings.push(format!("row {kind}/{key} unreadable, skipped: {e}")),
        }
    }
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError(format!("encode: {e}")))
}

fn put(writes: &mut Vec<Write>, kind: &'static str, key: &str, value: String) {
    writes.push(Write::Put {
        kind,
        key: key.to_string(),
        value,
    });
}

fn put_arm(writes: &mut Vec<Write>, l: &Learner, arm: &str) {
    for (kind, agg) in [(TOTAL, &l.total), (WINDOW, &l.window)] {
        if let Some(a) = agg.arms.get(arm) {
            if let Ok(v) = serde_json::to_string(a) {
                put(writes, kind, arm, v);
            }
        }
    }
}

fn put_shadow(writes: &mut Vec<Write>, l: &Learner, origin: &str) {
    for (kind, agg) in [(TOTAL_SHADOW, &l.total), (WINDOW_SHADOW, &l.window)] {
        if let Some(c) = agg.shadows.get(origin) {
            if let Ok(v) = serde_json::to_string(c) {
                put(writes, kind, origin, v);
            }
        }
    }
}

/// The `meta` row: the learner without its aggregates and replay guard.
fn meta_write(l: &mut Learner) -> Result<Write, StoreError> {
    let total_arms = std::mem::take(&mut l.total.arms);
    let total_shadows = std::mem::take(&mut l.total.shadows);
    let window_arms = std::mem::take(&mut l.window.arms);
    let window_shadows = std::mem::take(&mut l.window.shadows);
    let replay = std::mem::take(&mut l.replay);
    let text = to_json(&*l);
    l.total.arms = total_arms;
    l.total.shadows = total_shadows;
    l.window.arms = window_arms;
    l.window.shadows = window_shadows;
    l.replay = replay;
    Ok(Write::Put {
        kind: META,
        key: META_KEY.into(),
        value: text?,
    })
}

/// Every aggregate row of the learner (a tick may reset windows and drop shadows).
fn full_rewrite(
    l: &mut Learner,
    seen: &BTreeMap<String, RewardSums>,
) -> Result<Vec<Write>, StoreError> {
    let mut writes = vec![
        Write::DeleteKind(TOTAL),
        Write::DeleteKind(WINDOW),
        Write::DeleteKind(TOTAL_SHADOW),
        Write::DeleteKind(WINDOW_SHADOW),
    ];
    for (kind, arms) in [(TOTAL, &l.total.arms), (WINDOW, &l.window.arms)] {
        for (k, a) in arms {
            put(&mut writes, kind, k, to_json(a)?);
        }
    }
    for (kind, shadows) in [
        (TOTAL_SHADOW, &l.total.shadows),
        (WINDOW_SHADOW, &l.window.shadows),
    ] {
        for (k, c) in shadows {
            put(&mut writes, kind, k, to_json(c)?);
        }
    }
    for (k, s) in seen {
        put(&mut writes, SHARD_SEEN, k, to_json(s)?);
    }
    writes.push(meta_write(l)?);
    Ok(writes)
}

/// Adds what each shard credited since the last merge to the totals and the window.
fn merge_shards(
    l: &mut Learner,
    seen: &mut BTreeMap<String, RewardSums>,
    shards: &[(u32, BTreeMap<String, RewardSums>)],
) -> Warnings {
    let mut warnings = Vec::new();
    for (k, arms) in shards {
        for (arm, cur) in arms {
            if !crate::base::valid_name(arm.as_bytes(), crate::base::NameChars::Any) {
                continue;
            }
            let key = format!("{k}/{arm}");
            let before = seen.get(&key).copied().unwrap_or_default();
            if !cur.plausible() || cur.count < before.count {
                // A shard that lost or reset its rows: start counting from where it is.
                warnings.push(format!(
                    "shard {k} arm {arm}: sums went from {before:?} to {cur:?}; not merged"
                ));
                seen.insert(key, *cur);
                continue;
            }
            if cur.count == before.count {
                continue;
            }
            let d = RewardSums {
                count: cur.count - before.count,
                sum: cur.sum - before.sum,
                sq_sum: (cur.sq_sum - before.sq_sum).max(0.0),
                ope: cur.ope.credits_since(&before.ope),
            };
            for agg in [&mut l.total, &mut l.window] {
                let a = agg.arms.entry(arm.clone()).or_default();
                a.reward_count = a.reward_count.saturating_add(d.count);
                a.reward_sum += d.sum;
                a.reward_sq_sum += d.sq_sum;
                a.ope.add_credits(&d.ope);
            }
            seen.insert(key, *cur);
        }
    }
    warnings
}
