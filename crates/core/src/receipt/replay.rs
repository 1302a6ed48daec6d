//! Replay protection in memory: [`ReplayGuard`] remembers the ids of receipts already credited
//! for as long as they could still verify. Used by `learn::Learner` and when the legacy
//! single-value state is imported; the route's Durable Object itself guards by its ledger
//! table, keyed by receipt id (`crate::learn`).

use super::{ReceiptId, MAX_SKEW_MS};
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};

/// Remembers the ids of receipts already credited, for as long as they could still verify
/// (`max_age_ms + MAX_SKEW_MS` after issue), then forgets them. Serializable (the legacy
/// single-value state stored it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayGuard {
    /// (issued_ms, id) in insertion order; issue times are not monotone, so pruning scans.
    entries: VecDeque<(u64, ReceiptId)>,
    #[serde(skip)]
    index: HashSet<ReceiptId>,
}

impl ReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `id` and returns `true` the first time; returns `false` on a replay.
    /// Forgets ids issued more than `max_age_ms + MAX_SKEW_MS` before `now_ms`.
    pub fn check_and_insert(
        &mut self,
        id: ReceiptId,
        issued_ms: u64,
        now_ms: u64,
        max_age_ms: u64,
    ) -> bool {
        self.prune(now_ms, max_age_ms);
        if self.index.len() != self.entries.len() {
            self.index = self.entries.iter().map(|e| e.1).collect();
        }
        if !self.index.insert(id) {
            return false;
        }
        self.entries.push_back((issued_ms, id));
        true
    }

    /// Drops ids whose receipts would now be rejected as expired anyway.
    pub fn prune(&mut self, now_ms: u64, max_age_ms: u64) {
        let horizon = now_ms.saturating_sub(max_age_ms.saturating_add(MAX_SKEW_MS));
        let before = self.entries.len();
        self.entries.retain(|e| e.0 >= horizon);
        if self.entries.len() != before {
            self.index = self.entries.iter().map(|e| e.1).collect();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// (issued_ms, id) of every remembered receipt (for moving them into a ledger table).
    pub fn entries(&self) -> impl Iterator<Item = (u64, ReceiptId)> + '_ {
        self.entries.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

// Native only, like every receipt test (proptest is a native dev-dependency).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::receipt::fixtures::{typical, DAY, KEY, NOW};
    use crate::receipt::{ReceiptError, ReceiptSigner};

    #[test]
    fn replay_guard() {
        let s = ReceiptSigner::new(KEY);
        let (tok, _) = s.sign_with_id(&typical());
        let (r, id) = s.verify_with_id(&tok, NOW, DAY).unwrap();
        let mut g = ReplayGuard::new();
        assert!(g.check_and_insert(id, r.issued_ms(), NOW, DAY));
        assert!(!g.check_and_insert(id, r.issued_ms(), NOW + 10, DAY));
        // Survives a serde round trip (Durable Object storage).
        let json = serde_json::to_string(&g).unwrap();
        let mut g2: ReplayGuard = serde_json::from_str(&json).unwrap();
        assert!(!g2.check_and_insert(id, r.issued_ms(), NOW + 20, DAY));
        // Forgotten once the receipt could no longer verify.
        g2.prune(NOW + DAY + MAX_SKEW_MS + 1, DAY);
        assert!(g2.is_empty());
        assert_eq!(
            s.verify(&tok, NOW + DAY + MAX_SKEW_MS + 1, DAY),
            Err(ReceiptError::Expired)
        );
    }
}
