//! The storage a route's learning state is kept in: [`Store`], SQLite-shaped (rows of
//! (`kind`, `key`) -> value, receipt ids with an expiry, batches applied all or nothing). The
//! edge implements it with the Durable Object's SQLite; [`MemStore`] implements it in memory,
//! with injectable failures, for native tests. The ledger and the series write through it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use crate::observe::DecisionRow;
use crate::statistics::UnitRow;

/// Key of one unit row: the split's epoch id, the arm, the unit's 64-bit key
/// (`super::experiment`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnitKey {
    pub epoch: u32,
    pub arm: String,
    pub unit: u64,
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A receipt id seen for the first time, remembered until `expires_ms`. A batch holding
    /// an id that is already stored is refused whole ([`ApplyError::Conflict`]).
    NewReceipt { id: [u8; 16], expires_ms: u64 },
    /// Insert or replace the row (`kind`, `key`).
    Put {
        kind: &'static str,
        key: String,
        value: String,
    },
    /// Delete every row of `kind`.
    DeleteKind(&'static str),
    /// Delete the row (`kind`, `key`) if it exists.
    Delete { kind: &'static str, key: String },
    /// A decision kept in the decision log at sampling rate `rate`; a reward that arrived
    /// for its id before it (an early reward) is joined to it and forgotten. A row whose id
    /// is already logged is left as it is.
    LogDecision { row: DecisionRow, rate: f64 },
    /// The reward of the decision with receipt id `id`: joined to its row, or kept as an
    /// early reward (stamped `at`) until the row arrives.
    LogReward { id: String, reward: f64, at: u64 },
    /// Insert or replace a unit row (`super::experiment`).
    Unit(UnitKey, UnitRow),
}

/// One row of the decision log as stored: the decision, its sampling rate, its reward.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedDecision {
    pub row: DecisionRow,
    pub rate: f64,
    pub reward: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApplyError {
    /// A [`Write::NewReceipt`] id was already stored: nothing was written.
    Conflict,
    /// Storage failed: nothing was written.
    Store(String),
}

/// Storage failed (a read or a write). Never a reason to assume "empty".
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// SQLite-shaped storage of one object.
pub trait Store {
    /// Applies every write or none.
    fn apply(&self, writes: Vec<Write>) -> Result<(), ApplyError>;
    /// Every row of `kind`, as (key, value).
    fn rows(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// Deletes up to `limit` receipt rows that expired before `now_ms`, oldest first;
    /// returns how many.
    fn prune_receipts(&self, now_ms: u64, limit: u32) -> Result<u32, StoreError>;
    /// Receipt rows stored.
    fn receipt_count(&self) -> Result<u64, StoreError>;
    /// Earliest expiry among stored receipts.
    fn next_expiry(&self) -> Result<Option<u64>, StoreError>;
    /// Up to `limit` decision-log rows after `after` (`(at, id)`, exclusive), ordered by
    /// `(at, id)`.
    fn decision_page(
        &self,
        after: Option<(u64, String)>,
        limit: u32,
    ) -> Result<Vec<LoggedDecision>, StoreError>;
    /// Deletes up to `limit` decision rows made before `before_ms` and up to `limit` early
    /// rewards stamped before `early_before_ms`; returns how many rows in all.
    fn prune_decisions(
        &self,
        before_ms: u64,
        early_before_ms: u64,
        limit: u32,
    ) -> Result<u32, StoreError>;
    /// Decision rows stored.
    fn decision_count(&self) -> Result<u64, StoreError>;
    /// The unit rows of `keys`, in order (`None`: no row).
    fn unit_rows(&self, keys: &[UnitKey]) -> Result<Vec<Option<UnitRow>>, StoreError>;
    /// Deletes up to `limit` unit rows of `epoch`; returns how many.
    fn delete_units(&self, epoch: u32, limit: u32) -> Result<u32, StoreError>;
}

/// What loading found that it could not use (logged by the caller; never a reason to start
/// fresh).
pub type Warnings = Vec<String>;

// ---------------------------------------------------------------------------------------
// In memory

#[derive(Debug, Clone, Default)]
struct MemTables {
    receipts: BTreeMap<[u8; 16], u64>,
    rows: BTreeMap<(String, String), String>,
    /// (at, id) -> row.
    decisions: BTreeMap<(u64, String), LoggedDecision>,
    /// id -> at.
    decision_ids: BTreeMap<String, u64>,
    /// id -> (reward, at).
    early: BTreeMap<String, (f64, u64)>,
    units: BTreeMap<UnitKey, UnitRow>,
}

/// [`Store`] in memory, with injectable failures, for native tests.
#[derive(Debug, Default)]
pub struct MemStore {
    tables: RefCell<MemTables>,
    /// The next `n` calls of `apply` fail (nothing written).
    pub fail_writes: std::cell::Cell<u32>,
    /// Reads fail while set.
    pub fail_reads: std::cell::Cell<bool>,
    /// Bytes written by `apply`, summed (values and keys).
    pub bytes_written: std::cell::Cell<u64>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Overwrites a row as is (to simulate a corrupt row).
    pub fn poke(&self, kind: &str, key: &str, value: &str) {
        self.tables
            .borrow_mut()
            .rows
            .insert((kind.into(), key.into()), value.into());
    }

    pub fn row_count(&self) -> usize {
        self.tables.borrow().rows.len()
    }

    /// Unit rows stored.
    pub fn unit_count(&self) -> usize {
        self.tables.borrow().units.len()
    }
}

impl Store for &MemStore {
    fn apply(&self, writes: Vec<Write>) -> Result<(), ApplyError> {
        if self.fail_writes.get() > 0 {
            self.fail_writes.set(self.fail_writes.get() - 1);
            return Err(ApplyError::Store("injected write failure".into()));
        }
        let mut t = self.tables.borrow_mut();
        for w in &writes {
            if let Write::NewReceipt { id, .. } = w {
                if t.receipts.contains_key(id) {
                    return Err(ApplyError::Conflict);
                }
            }
        }
        let mut bytes = 0u64;
        for w in writes {
            match w {
                Write::NewReceipt { id, expires_ms } => {
                    bytes += 24;
                    t.receipts.insert(id, expires_ms);
                }
                Write::Put { kind, key, value } => {
                    bytes += (kind.len() + key.len() + value.len()) as u64;
                    t.rows.insert((kind.to_string(), key), value);
                }
                Write::DeleteKind(kind) => t.rows.retain(|(k, _), _| k != kind),
                Write::Delete { kind, key } => {
                    t.rows.remove(&(kind.to_string(), key));
                }
                Write::LogDecision { row, rate } => {
                    bytes += 64 + row.arm.len() as u64;
                    if t.decision_ids.contains_key(&row.id) {
                        continue;
                    }
                    let reward = t.early.remove(&row.id).map(|(r, _)| r);
                    t.decision_ids.insert(row.id.clone(), row.at);
                    t.decisions.insert(
                        (row.at, row.id.clone()),
                        LoggedDecision { row, rate, reward },
                    );
                }
                Write::LogReward { id, reward, at } => {
                    bytes += 48;
                    match t.decision_ids.get(&id).copied() {
                        Some(row_at) => {
                            if let Some(d) = t.decisions.get_mut(&(row_at, id)) {
                                d.reward = Some(reward);
                            }
                        }
                        None => {
                            t.early.insert(id, (reward, at));
                        }
                    }
                }
                Write::Unit(k, r) => {
                    bytes += 48 + k.arm.len() as u64;
                    t.units.insert(k, r);
                }
            }
        }
        self.bytes_written.set(self.bytes_written.get() + bytes);
        Ok(())
    }

    fn rows(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError("injected read failure".into()));
        }
        Ok(self
            .tables
            .borrow()
            .rows
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|((_, key), v)| (key.clone(), v.clone()))
            .collect())
    }

    fn prune_receipts(&self, now_ms: u64, limit: u32) -> Result<u32, StoreError> {
        let mut t = self.tables.borrow_mut();
        let mut expired: Vec<([u8; 16], u64)> = t
            .receipts
            .iter()
            .filter(|(_, e)| **e < now_ms)
            .map(|(k, e)| (*k, *e))
            .collect();
        expired.sort_by_key(|(_, e)| *e);
        let n = expired.len().min(limit as usize);
        for (k, _) in &expired[..n] {
            t.receipts.remove(k);
        }
        Ok(n as u32)
    }

    fn receipt_count(&self) -> Result<u64, StoreError> {
        Ok(self.tables.borrow().receipts.len() as u64)
    }

    fn next_expiry(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.tables.borrow().receipts.values().min().copied())
    }

    fn decision_page(
        &self,
        after: Option<(u64, String)>,
        limit: u32,
    ) -> Result<Vec<LoggedDecision>, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError("injected read failure".into()));
        }
        let t = self.tables.borrow();
        let rows = t.decisions.iter().filter(|(k, _)| match &after {
            Some(a) => *k > a,
            None => true,
        });
        Ok(rows.take(limit as usize).map(|(_, d)| d.clone()).collect())
    }

    fn prune_decisions(
        &self,
        before_ms: u64,
        early_before_ms: u64,
        limit: u32,
    ) -> Result<u32, StoreError> {
        let mut t = self.tables.borrow_mut();
        let old: Vec<(u64, String)> = t
            .decisions
            .keys()
            .filter(|(at, _)| *at < before_ms)
            .take(limit as usize)
            .cloned()
            .collect();
        for k in &old {
            t.decisions.remove(k);
            t.decision_ids.remove(&k.1);
        }
        let early: Vec<String> = t
            .early
            .iter()
            .filter(|(_, (_, at))| *at < early_before_ms)
            .take(limit as usize)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &early {
            t.early.remove(k);
        }
        Ok((old.len() + early.len()) as u32)
    }

    fn decision_count(&self) -> Result<u64, StoreError> {
        Ok(self.tables.borrow().decisions.len() as u64)
    }

    fn unit_rows(&self, keys: &[UnitKey]) -> Result<Vec<Option<UnitRow>>, StoreError> {
        if self.fail_reads.get() {
            return Err(StoreError("injected read failure".into()));
        }
        let t = self.tables.borrow();
        Ok(keys.iter().map(|k| t.units.get(k).copied()).collect())
    }

    fn delete_units(&self, epoch: u32, limit: u32) -> Result<u32, StoreError> {
        let mut t = self.tables.borrow_mut();
        let doomed: Vec<UnitKey> = t
            .units
            .keys()
            .filter(|k| k.epoch == epoch)
            .take(limit as usize)
            .cloned()
            .collect();
        for k in &doomed {
            t.units.remove(k);
        }
        Ok(doomed.len() as u32)
    }
}
