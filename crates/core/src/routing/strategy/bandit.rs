//! `bandit`: arms weighted by `weights:<route>` (written by the learning loop); sticky by
//! the allocation layout written with the weights when it fits them (a tick then moves
//! only the units it has to), else by weighted rendezvous hashing; or sampled per request.
//! Equal weights during warm-up: sticky units by the canonical layout of equal weights,
//! which the first layout the learning loop writes starts from.

use super::{Choice, Cx};
use crate::base::Rng;
use crate::base::{choose_weighted, slot};
use crate::config::Arm;
use crate::routing::{pick_layout, Reason, LAYOUT_SLOTS as SLOTS};

pub(super) fn choose<'c, H: ?Sized, R: Rng>(
    arms: &'c [Arm],
    sticky: bool,
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    let (i, reason) = match cx.weights {
        Some(w) if w.len() == arms.len() => {
            if sticky {
                let laid = pick_layout(cx.layouts, cx.h, arms.len(), &|i| {
                    (arms[i].name.as_str(), w[i])
                });
                let keys = arms.iter().zip(w).map(|(a, w)| (a.key, *w));
                (
                    laid.or_else(|| choose_weighted(cx.h, keys)).unwrap_or(0),
                    Reason::BanditSticky,
                )
            } else {
                (sample(w, cx.rng), Reason::BanditSampled)
            }
        }
        _ => {
            let i = if sticky {
                equal_slot(slot(cx.h, SLOTS), arms.len())
            } else {
                (cx.rng.next_u64() % arms.len().max(1) as u64) as usize
            };
            (i, Reason::BanditWarmup)
        }
    };
    Choice::pick(&arms[i].name, arms[i].origin, reason)
}

/// The arm of `s` in the canonical layout of `k` equal weights (`Layout::canonical`):
/// `SLOTS / k` slots each, the first `SLOTS % k` arms one more, in arm order.
pub fn equal_slot(s: u32, k: usize) -> usize {
    let k = k.clamp(1, SLOTS as usize) as u32;
    let (base, extra) = (SLOTS / k, SLOTS % k);
    let wide = extra * (base + 1);
    let i = if s < wide {
        s / (base + 1)
    } else {
        extra + (s - wide) / base
    };
    i.min(k - 1) as usize
}

/// Draws an index with probability proportional to `w`.
fn sample<R: Rng>(w: &[f64], rng: &mut R) -> usize {
    let total: f64 = w.iter().sum();
    let mut x = rng.next_f64() * total;
    for (i, wi) in w.iter().enumerate() {
        if x < *wi {
            return i;
        }
        x -= wi;
    }
    w.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Layout;

    #[test]
    fn equal_slot_is_the_canonical_equal_layout() {
        for k in 1..=9usize {
            let names: Vec<String> = (0..k).map(|i| format!("a{i}")).collect();
            let arms: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 1.0)).collect();
            let l = Layout::canonical(&arms).unwrap();
            for s in 0..SLOTS {
                assert_eq!(equal_slot(s, k), l.owner(s), "k={k} slot {s}");
            }
        }
    }
}
