//! The route's decision log: which decisions are kept ([`LogSampler`]), for how long, and
//! how a kept decision is exported ([`export_line`], one NDJSON line of
//! `GET /_switchyard/decisions/<route>`).
//!
//! **What is kept.** Every logged decision (one with a propensity, on a route whose
//! `log.decisions` is on, with receipts enabled) up to [`LOG_RATE_PER_MINUTE`] (`B`) per
//! minute and route; beyond that, decisions are sampled. A minute starts at the rate the
//! previous minute's volume calls for (the largest power of two at most `B / offered`), and
//! within a minute the rate halves each time the minute's decisions pass `B`, `2 B`, `4 B`,
//! … at that rate, so steady traffic keeps at most about `B` rows a minute and a burst of
//! `N` decisions in one minute about `B (1 + ½ log2(N / B))`. Whether a row is kept is
//! decided by its receipt id (an HMAC tag, uniform and independent of the arm, the unit and
//! the reward) against the rate in force when it arrived (which depends only on how many
//! decisions came before it), and that rate is written on the row (`sampling_rate`):
//! weighting each row by `1 / sampling_rate` (Horvitz-Thompson) makes sums over the kept rows
//! unbiased for sums over all decisions. Rows are kept [`LOG_RETENTION_MS`] (24 h, the life
//! of a receipt, so any reward can still be joined): about `B × 1,440` = 864,000 rows for a
//! route with steady traffic at or above the rate.
//!
//! **Rewards.** A credit joins its reward to the row with its receipt id. A reward that
//! arrives before its row (the edge flushes decisions up to a second later) waits in a
//! small table for [`EARLY_REWARD_KEEP_MS`] and is joined when the row arrives.

use serde_json::{json, Map, Value};

use super::store::LoggedDecision;

/// Decisions kept in full per route and minute (10 per second); beyond it, sampled.
pub const LOG_RATE_PER_MINUTE: u64 = 600;
/// How long a decision row is kept (24 h).
pub const LOG_RETENTION_MS: u64 = 24 * 3600 * 1000;
/// How long a reward waits for its decision row.
pub const EARLY_REWARD_KEEP_MS: u64 = 10 * 60 * 1000;
/// Decision rows (and early rewards) deleted per alarm, at most.
pub const LOG_PRUNE_BATCH: u32 = 5_000;
/// Rows per export page, at most (`?limit=`, default the same).
pub const EXPORT_PAGE_MAX: u32 = 10_000;
/// The smallest sampling rate, 2^-20.
const MAX_LEVEL: u32 = 20;
const MINUTE_MS: u64 = 60_000;

/// The per-minute sampler of a route's decision log (see the module doc). Lives in the
/// route object's memory: an object that restarts starts a fresh minute at rate 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogSampler {
    minute: u64,
    offered: u64,
    /// The rate is `2^-level`.
    level: u32,
}

impl LogSampler {
    /// Whether to keep a decision that arrives at `now_ms` with uniform draw `u` (in [0, 1)):
    /// the sampling rate to write on its row, or `None`.
    pub fn admit(&mut self, now_ms: u64, u: f64) -> Option<f64> {
        let minute = now_ms / MINUTE_MS;
        if minute != self.minute {
            let prev = if minute == self.minute + 1 {
                self.offered
            } else {
                0
            };
            self.minute = minute;
            self.offered = 0;
            self.level = 0;
            while self.level < MAX_LEVEL && (prev >> self.level) > LOG_RATE_PER_MINUTE {
                self.level += 1;
            }
        }
        self.offered = self.offered.saturating_add(1);
        while self.level < MAX_LEVEL && self.offered > (LOG_RATE_PER_MINUTE << self.level) {
            self.level += 1;
        }
        let rate = 2f64.powi(-(self.level as i32));
        (u < rate).then_some(rate)
    }
}

/// A uniform draw in [0, 1) from a receipt id (hex): its first 16 hex digits. Ids that are
/// not hex draw 0 (always kept).
pub fn draw_of(id: &str) -> f64 {
    id.get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .map_or(0.0, |x| (x >> 11) as f64 / (1u64 << 53) as f64)
}

/// One NDJSON line of the export: `{"at", "unit", "arm", "propensity", "reward",
/// "sampling_rate", "context", "id"}` (`reward` null until it arrives; `context` the route's
/// `log.context` attributes by name, null when absent).
pub fn export_line(d: &LoggedDecision) -> String {
    let ctx: Map<String, Value> = d
        .row
        .ctx
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect();
    let line = json!({
        "at": d.row.at,
        "unit": d.row.unit,
        "arm": d.row.arm,
        "propensity": f64::from(d.row.p) / 1e6,
        "reward": d.reward,
        "sampling_rate": d.rate,
        "context": ctx,
        "id": d.row.id,
    });
    let mut s = serde_json::to_string(&line).unwrap_or_default();
    s.push('\n');
    s
}

/// The export cursor after `d`: `<at>.<id>`.
pub fn cursor_of(d: &LoggedDecision) -> String {
    format!("{}.{}", d.row.at, d.row.id)
}

/// `<at>.<id>` back into its parts.
pub fn parse_cursor(c: &str) -> Option<(u64, String)> {
    let (at, id) = c.split_once('.')?;
    let ok = id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| Some((at.parse().ok()?, id.to_string())))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::DecisionRow;

    #[test]
    fn everything_below_the_rate_then_a_bounded_sample() {
        let mut s = LogSampler::default();
        let mut rng = crate::base::Xoshiro256::seed_from_u64(3);
        use crate::base::Rng;
        // Minute 1: 500 decisions, all kept at rate 1.
        let t0 = 10 * MINUTE_MS;
        for i in 0..500 {
            assert_eq!(s.admit(t0 + i, rng.next_f64()), Some(1.0));
        }
        // Minute 2: 20,000 decisions: a bounded sample whose weighted count is unbiased.
        let (mut kept, mut weighted) = (0u64, 0.0);
        for i in 0..20_000u64 {
            if let Some(r) = s.admit(t0 + MINUTE_MS + i, rng.next_f64()) {
                kept += 1;
                weighted += 1.0 / r;
            }
        }
        // About B (1 + ½ log2(20,000 / B)) = 2,100.
        assert!(kept < 4 * LOG_RATE_PER_MINUTE, "{kept}");
        assert!((weighted - 20_000.0).abs() < 0.15 * 20_000.0, "{weighted}");
        // Minute 3 starts at the rate minute 2's volume calls for (20,000 / 2^5 = 625 > B:
        // 2^-6).
        let r = (0..100)
            .find_map(|i| s.admit(t0 + 2 * MINUTE_MS + i, rng.next_f64()))
            .unwrap();
        assert_eq!(r, 1.0 / 64.0);
        // After a quiet minute, rate 1 again.
        assert_eq!(s.admit(t0 + 5 * MINUTE_MS, 0.99), Some(1.0));
    }

    #[test]
    fn export_lines_and_cursors() {
        let d = LoggedDecision {
            row: DecisionRow {
                id: "00ff".repeat(8),
                at: 1_700_000_000_000,
                unit: "0123456789abcdef".into(),
                arm: "b".into(),
                p: 100_000,
                ctx: [("country".to_string(), Some("CH".to_string()))].into(),
            },
            rate: 0.5,
            reward: Some(1.0),
        };
        let line = export_line(&d);
        assert!(line.ends_with('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["propensity"], json!(0.1));
        assert_eq!(v["reward"], json!(1.0));
        assert_eq!(v["sampling_rate"], json!(0.5));
        assert_eq!(v["context"]["country"], json!("CH"));
        let c = cursor_of(&d);
        assert_eq!(parse_cursor(&c), Some((d.row.at, d.row.id.clone())));
        assert_eq!(parse_cursor("x.y"), None);
        assert_eq!(parse_cursor("1.'; drop"), None);
        assert!((draw_of(&"ff".repeat(16)) - 1.0).abs() < 1e-9);
        assert_eq!(draw_of("zz"), 0.0);
    }
}
