//! Allocation layouts: which arm owns which part of the hash space, so that a weight change
//! moves exactly the units it has to.
//!
//! The unit's split hash picks one of [`SLOTS`] equal slots (`base::slot(h, SLOTS)`, the
//! same multiply-shift as buckets; 10,000 slots is the 4-decimal percent resolution). A
//! layout gives every slot an arm, stored as runs of consecutive slots. Built for weights
//! `w`, arm `i` owns `counts[i]` slots: `w` scaled to [`SLOTS`] and rounded by largest
//! remainder ([`quantize`]).
//!
//! [`Layout::rebalance`] turns a layout into one for new weights by moving only slots from
//! arms above their new count to arms below it, so the share of slots that change arm is
//! `Σ max(0, old_i - new_i) / SLOTS`: the total-variation distance between the old and the
//! new rounded weights (within `k / 2 / SLOTS` of the distance between the weights
//! themselves for `k` arms). A share of units hashed into those slots changes arm, nobody
//! else. Slots move at run boundaries where a giving arm touches a taking one; otherwise a
//! giving arm hands over its shortest runs (the remainder from the end of one run), which
//! keeps runs few. Should they still exceed [`Layout::max_runs`], the layout is replaced by
//! the canonical one (one run per arm, in arm order): that one change may move more than
//! the minimum, up to every slot, and [`Layout::moved`] reports exactly how many. The tests
//! do not reach the bound: 24 runs at most after 12 × 1,000 random changes of 2-8 arms, 63
//! after 1,000 bandit-like drifts of 8 arms (76 after 20,000).
//!
//! A layout for weights with no previous layout is canonical. The router uses a layout only
//! when it [`fits`](Layout::fits) the weights in force; otherwise it falls back to weighted
//! rendezvous hashing (`base::choose_weighted`).

use serde_json::{json, Value};

use crate::base::slot;

/// Slots in the hash space of a layout.
pub const SLOTS: u32 = 10_000;
/// What a document that is not [`Layout::to_value`]'s form is refused with (one short
/// message keeps the router small; the control plane and the learning loop write them).
const BAD: &str = "invalid layout";

/// Most arms a layout describes (arm indices are `u16`; a route has far fewer).
pub const MAX_ARMS: usize = 1_024;

/// Which arm owns which slots; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    arms: Vec<String>,
    counts: Vec<u32>,
    /// First slot of each run, ascending from 0.
    starts: Vec<u32>,
    /// Arm index of each run (a rebalance merges neighbours of one arm).
    owners: Vec<u16>,
}

/// `weights` scaled to [`SLOTS`] slots and rounded by largest remainder (ties to the earlier
/// arm); negative and non-finite weights count as 0. `None` when no weight is positive.
pub fn quantize(weights: &[f64]) -> Option<Vec<u32>> {
    let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    let total: f64 = weights.iter().map(|w| clean(*w)).sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let exact: Vec<f64> = weights
        .iter()
        .map(|w| clean(*w) / total * SLOTS as f64)
        .collect();
    let mut counts: Vec<u32> = exact
        .iter()
        .map(|x| (x.floor() as u32).min(SLOTS))
        .collect();
    let given: u32 = counts.iter().sum();
    let left = SLOTS.saturating_sub(given) as usize;
    let mut order: Vec<usize> = (0..counts.len()).filter(|i| exact[*i] > 0.0).collect();
    order.sort_by(|a, b| {
        let (ra, rb) = (exact[*a] - exact[*a].floor(), exact[*b] - exact[*b].floor());
        rb.total_cmp(&ra).then(a.cmp(b))
    });
    for i in order.iter().take(left) {
        counts[*i] += 1;
    }
    // Each floor loses less than one slot, so `left` never exceeds the arms that lost some.
    (counts.iter().sum::<u32>() == SLOTS).then_some(counts)
}

/// Total-variation distance between two weight vectors over the arm names given (each
/// normalised; an arm missing on one side counts as 0 there).
pub fn total_variation(old: &[(&str, f64)], new: &[(&str, f64)]) -> f64 {
    let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    let so: f64 = old.iter().map(|(_, w)| clean(*w)).sum();
    let sn: f64 = new.iter().map(|(_, w)| clean(*w)).sum();
    let share = |arms: &[(&str, f64)], s: f64, name: &str| {
        arms.iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, w)| if s > 0.0 { clean(*w) / s } else { 0.0 })
    };
    let mut d = 0.0;
    for (n, _) in old {
        d += (share(old, so, n) - share(new, sn, n)).abs();
    }
    for (n, _) in new {
        if !old.iter().any(|(o, _)| o == n) {
            d += share(new, sn, n);
        }
    }
    d / 2.0
}

impl Layout {
    /// The canonical layout for `arms` (name, weight): one run per arm with slots, in the
    /// order given. `None` when no weight is positive or there are too many arms.
    pub fn canonical(arms: &[(&str, f64)]) -> Option<Layout> {
        if arms.len() > MAX_ARMS {
            return None;
        }
        let w: Vec<f64> = arms.iter().map(|(_, w)| *w).collect();
        let counts = quantize(&w)?;
        let mut l = Layout {
            arms: arms.iter().map(|(n, _)| n.to_string()).collect(),
            counts,
            starts: Vec::new(),
            owners: Vec::new(),
        };
        let mut at = 0;
        for (i, c) in l.counts.iter().enumerate() {
            if *c > 0 {
                l.starts.push(at);
                l.owners.push(i as u16);
                at += c;
            }
        }
        Some(l)
    }

    /// Most runs a layout of `arms` arms keeps before it is compacted: 64 plus 16 per arm.
    pub fn max_runs(arms: usize) -> usize {
        64 + 16 * arms
    }

    /// The arm names, in the order the layout was built with.
    pub fn arms(&self) -> &[String] {
        &self.arms
    }

    /// Slots per arm, aligned with [`arms`](Self::arms).
    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// Number of runs.
    pub fn runs(&self) -> usize {
        self.starts.len()
    }

    /// The arm index owning `slot` (binary search over the run starts).
    pub fn owner(&self, slot: u32) -> usize {
        let r = self
            .starts
            .partition_point(|s| *s <= slot)
            .saturating_sub(1);
        self.owners.get(r).map_or(0, |o| *o as usize)
    }

    /// The arm name of a unit whose split hash is `h`.
    pub fn arm_of(&self, h: u64) -> &str {
        &self.arms[self.owner(slot(h, SLOTS))]
    }

    /// Whether this layout was built for `arms` (name, weight): the same arms in the same
    /// order, each owning a count that rounds its share of [`SLOTS`] (the floor or the
    /// ceiling; an arm of weight 0 owns nothing).
    pub fn fits<'a>(&self, arms: impl Iterator<Item = (&'a str, f64)>) -> bool {
        let arms: Vec<(&str, f64)> = arms.collect();
        self.fits_with(arms.len(), &|i| arms[i])
    }

    /// [`fits`](Self::fits) for `n` arms given by index, without allocating (the request
    /// path checks it on every request).
    pub fn fits_with<'a>(&self, n: usize, arm: &dyn Fn(usize) -> (&'a str, f64)) -> bool {
        let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let mut total = 0.0;
        for i in 0..n {
            total += clean(arm(i).1);
        }
        if !(total > 0.0 && total.is_finite()) || self.arms.len() != n {
            return false;
        }
        for i in 0..n {
            let (name, w) = arm(i);
            let exact = clean(w) / total * SLOTS as f64;
            if self.arms[i] != name || (self.counts[i] as f64 - exact).abs() >= 1.0 {
                return false;
            }
        }
        true
    }

    /// Slots whose arm (by name) differs between `self` and `other`.
    pub fn moved(&self, other: &Layout) -> u32 {
        let (mut a, mut b, mut at, mut moved) = (0usize, 0usize, 0u32, 0u32);
        let end = |l: &Layout, r: usize| l.starts.get(r + 1).copied().unwrap_or(SLOTS);
        while at < SLOTS && a < self.runs() && b < other.runs() {
            let next = end(self, a).min(end(other, b));
            if self.arms[self.owners[a] as usize] != other.arms[other.owners[b] as usize] {
                moved += next - at;
            }
            at = next;
            if end(self, a) == at {
                a += 1;
            }
            if end(other, b) == at {
                b += 1;
            }
        }
        moved
    }

    /// A layout for `arms` (name, weight) that moves only the slots the change requires
    /// (see the module docs): arms not in `arms` give up all their slots, new arms take
    /// theirs from the others. `None` when no weight is positive or there are too many arms.
    pub fn rebalance(&self, arms: &[(&str, f64)]) -> Option<Layout> {
        if arms.len() > MAX_ARMS {
            return None;
        }
        let w: Vec<f64> = arms.iter().map(|(_, w)| *w).collect();
        let target = quantize(&w)?;
        // Working arms: the new ones, then the old ones that are gone (target 0).
        let mut names: Vec<&str> = arms.iter().map(|(n, _)| *n).collect();
        let mut want = target.clone();
        let map: Vec<usize> = self
            .arms
            .iter()
            .map(|a| match names.iter().position(|n| n == a) {
                Some(i) => i,
                None => {
                    names.push(a);
                    want.push(0);
                    names.len() - 1
                }
            })
            .collect();
        // Runs as (length, working arm).
        let mut runs: Vec<(u32, usize)> = (0..self.runs())
            .map(|r| {
                let end = self.starts.get(r + 1).copied().unwrap_or(SLOTS);
                (end - self.starts[r], map[self.owners[r] as usize])
            })
            .collect();
        let mut have = vec![0u32; names.len()];
        for (len, a) in &runs {
            have[*a] += len;
        }
        // Positive: slots to give; negative: slots to take.
        let mut excess: Vec<i64> = have
            .iter()
            .zip(&want)
            .map(|(h, w)| *h as i64 - *w as i64)
            .collect();
        loop {
            if let Some((r, give_right)) = adjacent_pair(&runs, &excess) {
                // Shift the boundary between run r and run r+1 towards the giver.
                let (g, t) = if give_right { (r, r + 1) } else { (r + 1, r) };
                let (ga, ta) = (runs[g].1, runs[t].1);
                let n = (excess[ga].min(-excess[ta]) as u32).min(runs[g].0);
                runs[g].0 -= n;
                runs[t].0 += n;
                excess[ga] -= n as i64;
                excess[ta] += n as i64;
                normalise(&mut runs);
                continue;
            }
            // No giver touches a taker: the giver's shortest run goes (or the end of it)
            // to the arm that lacks the most.
            let Some(ga) = (0..excess.len()).find(|a| excess[*a] > 0) else {
                break;
            };
            let Some(ta) = (0..excess.len())
                .filter(|a| excess[*a] < 0)
                .max_by(|a, b| (-excess[*a]).cmp(&-excess[*b]).then(b.cmp(a)))
            else {
                break;
            };
            let Some(r) = (0..runs.len())
                .filter(|r| runs[*r].1 == ga)
                .min_by_key(|r| (runs[*r].0, *r))
            else {
                break;
            };
            let n = (excess[ga].min(-excess[ta]) as u32).min(runs[r].0);
            if n == runs[r].0 {
                runs[r].1 = ta;
            } else {
                runs[r].0 -= n;
                runs.insert(r + 1, (n, ta));
            }
            excess[ga] -= n as i64;
            excess[ta] += n as i64;
            normalise(&mut runs);
        }
        let mut out = Layout {
            arms: arms.iter().map(|(n, _)| n.to_string()).collect(),
            counts: target,
            starts: Vec::with_capacity(runs.len()),
            owners: Vec::with_capacity(runs.len()),
        };
        let mut at = 0;
        for (len, a) in runs {
            if a >= arms.len() {
                // Only an arm that is gone can be here, and it gave everything away.
                return Layout::canonical(arms);
            }
            out.starts.push(at);
            out.owners.push(a as u16);
            at += len;
        }
        if out.runs() > Layout::max_runs(arms.len()) {
            return Layout::canonical(arms);
        }
        Some(out)
    }

    /// The layout as stored in KV: `{"slots", "arms", "counts", "runs": [[start, arm], …]}`.
    pub fn to_value(&self) -> Value {
        let runs: Vec<Value> = self
            .starts
            .iter()
            .zip(&self.owners)
            .map(|(s, o)| json!([s, o]))
            .collect();
        json!({ "slots": SLOTS, "arms": self.arms, "counts": self.counts, "runs": runs })
    }

    /// Reads [`to_value`](Self::to_value)'s form back: `slots` must be [`SLOTS`], `arms` 1
    /// to [`MAX_ARMS`] names, `runs` (at most [`max_runs`](Self::max_runs)) must start at 0,
    /// ascend and name known arms. The counts are what the runs give each arm (`counts` as
    /// written is for people reading the document).
    pub fn from_value(v: &Value) -> Result<Layout, String> {
        Self::read(v).ok_or_else(|| BAD.to_string())
    }

    // Plain loops, not iterator adapters: this runs in the router, where bytes count.
    fn read(v: &Value) -> Option<Layout> {
        if v.get("slots")?.as_u64()? != SLOTS as u64 {
            return None;
        }
        let names = v.get("arms")?.as_array()?;
        let runs = v.get("runs")?.as_array()?;
        let n = names.len();
        if n == 0 || n > MAX_ARMS || runs.is_empty() || runs.len() > Layout::max_runs(n) {
            return None;
        }
        let mut l = Layout {
            arms: Vec::with_capacity(n),
            counts: Vec::with_capacity(n),
            starts: Vec::with_capacity(runs.len()),
            owners: Vec::with_capacity(runs.len()),
        };
        for a in names {
            l.arms.push(a.as_str()?.to_string());
            l.counts.push(0);
        }
        let mut next = 0;
        for r in runs {
            let [s, o] = r.as_array()?.as_slice() else {
                return None;
            };
            let (s, o) = (s.as_u64()?, o.as_u64()?);
            // The first run starts at 0; every other one after the one before.
            let first = l.starts.is_empty();
            if (first && s != 0) || s < next || s >= SLOTS as u64 || o >= n as u64 {
                return None;
            }
            next = s + 1;
            l.starts.push(s as u32);
            l.owners.push(o as u16);
        }
        for r in 0..l.runs() {
            let end = l.starts.get(r + 1).copied().unwrap_or(SLOTS);
            l.counts[l.owners[r] as usize] += end - l.starts[r];
        }
        Some(l)
    }
}

/// The request path's use of layouts: among `n` arms given by index as (name, weight),
/// the index of the arm that the first layout fitting them ([`Layout::fits_with`]: same
/// arms, same order) gives the unit whose split hash is `h`; `None` when no layout fits (the
/// caller falls back to rendezvous hashing).
pub fn pick<'a>(
    layouts: &[Layout],
    h: u64,
    n: usize,
    arm: &dyn Fn(usize) -> (&'a str, f64),
) -> Option<usize> {
    let l = layouts.iter().find(|l| l.fits_with(n, arm))?;
    Some(l.owner(slot(h, SLOTS)))
}

/// Layouts a `layout:<route>` document keeps: the newest and the one before it, so that an
/// edge still holding the previous config finds the layout it was routing by.
pub const KEPT: usize = 2;

/// The `layouts` field of an allocation document: `layout:<route>` of an A/B route
/// (`{"layouts": [newest, previous]}`) or `weights:<route>` of a sticky bandit (the weights
/// and `"layouts": [the layout built for them]`).
pub fn layouts_value(layouts: &[Layout]) -> Value {
    let v: Vec<Value> = layouts.iter().take(KEPT).map(Layout::to_value).collect();
    json!({ "layouts": v })
}

/// Reads the `layouts` of an allocation document ([`layouts_value`]): none when the field is
/// absent, an error when it is not at most [`KEPT`] valid layouts.
pub fn parse_layouts(text: &str) -> Result<Vec<Layout>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match v.get("layouts") {
        None => {}
        Some(Value::Array(list)) if list.len() <= KEPT => {
            for l in list {
                out.push(Layout::from_value(l)?);
            }
        }
        Some(_) => return Err(BAD.into()),
    }
    Ok(out)
}

/// Stored as [`Layout::to_value`]'s form (the learning loop keeps the bandit's layout).
impl serde::Serialize for Layout {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Layout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Layout::from_value(&v).map_err(serde::de::Error::custom)
    }
}

/// A boundary between a run whose arm has slots to give and a neighbour whose arm lacks
/// some: `(r, true)` when run `r` gives to run `r + 1`, `(r, false)` for the reverse.
fn adjacent_pair(runs: &[(u32, usize)], excess: &[i64]) -> Option<(usize, bool)> {
    (0..runs.len().saturating_sub(1)).find_map(|r| {
        let (a, b) = (runs[r].1, runs[r + 1].1);
        if excess[a] > 0 && excess[b] < 0 {
            Some((r, true))
        } else if excess[b] > 0 && excess[a] < 0 {
            Some((r, false))
        } else {
            None
        }
    })
}

/// Drops empty runs and merges neighbours of the same arm.
fn normalise(runs: &mut Vec<(u32, usize)>) {
    runs.retain(|r| r.0 > 0);
    let mut out: Vec<(u32, usize)> = Vec::with_capacity(runs.len());
    for r in runs.drain(..) {
        match out.last_mut() {
            Some(last) if last.1 == r.1 => last.0 += r.0,
            _ => out.push(r),
        }
    }
    *runs = out;
}

#[cfg(test)]
mod tests;
