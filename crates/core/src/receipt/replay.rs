//! Replay protection in memory: [`ReplayGuard`] remembers the ids of receipts already credited
//! for as long as they could still verify. Used by `learn::Learner` and when the legacy
//! single-value state is imported; the route's Durable Object itself guards by its ledger
//! table, keyed by receipt id (`crate::learn`). [`SpentIds`] is the control plane's bounded
//! per-isolate memory in front of it, which refuses a replay without calling the object.

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

/// The ids of receipts an isolate has seen credited (or refused as replays), at most
/// `capacity` of them; the oldest is forgotten first. A hit is a replay refused without a
/// call to the route's object; a miss costs nothing but that call (the object's ledger is
/// the authority), so forgetting is always safe. 16 bytes of id plus the set's overhead per
/// entry: [`SpentIds::DEFAULT_CAPACITY`] ids take well under 1 MB.
#[derive(Debug, Clone)]
pub struct SpentIds {
    capacity: usize,
    order: VecDeque<ReceiptId>,
    set: HashSet<ReceiptId>,
}

impl SpentIds {
    /// Ids kept by the control plane's isolates.
    pub const DEFAULT_CAPACITY: usize = 16_384;

    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Whether `id` was recorded (and not forgotten since).
    pub fn contains(&self, id: &ReceiptId) -> bool {
        self.set.contains(id)
    }

    /// Records `id`, forgetting the oldest id when full.
    pub fn insert(&mut self, id: ReceiptId) {
        if !self.set.insert(id) {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl Default for SpentIds {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
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

    #[test]
    fn spent_ids_are_bounded_and_forget_the_oldest() {
        let id = |i: u32| {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&i.to_be_bytes());
            ReceiptId(b)
        };
        let mut s = SpentIds::new(3);
        assert!(s.is_empty());
        for i in 0..3 {
            s.insert(id(i));
        }
        s.insert(id(1)); // already there: no reordering, no growth
        assert_eq!(s.len(), 3);
        assert!((0..3).all(|i| s.contains(&id(i))));
        s.insert(id(3));
        assert_eq!(s.len(), 3);
        assert!(!s.contains(&id(0)), "the oldest is forgotten");
        assert!((1..4).all(|i| s.contains(&id(i))));
        let mut big = SpentIds::default();
        for i in 0..100_000 {
            big.insert(id(i));
        }
        assert_eq!(big.len(), SpentIds::DEFAULT_CAPACITY);
        assert!(big.contains(&id(99_999)) && !big.contains(&id(0)));
    }
}
