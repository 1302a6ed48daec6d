//! `bandit`: arms weighted by `weights:<route>` (written by the learning loop); sticky by
//! weighted rendezvous hashing, or sampled per request; equal weights during warm-up.

use super::{Choice, Cx};
use crate::base::choose_weighted;
use crate::base::Rng;
use crate::config::Arm;
use crate::routing::Reason;

pub(super) fn choose<'c, H: ?Sized, R: Rng>(
    arms: &'c [Arm],
    sticky: bool,
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    let (i, reason) = match cx.weights {
        Some(w) if w.len() == arms.len() => {
            if sticky {
                let keys = arms.iter().zip(w).map(|(a, w)| (a.key, *w));
                (
                    choose_weighted(cx.h, keys).unwrap_or(0),
                    Reason::BanditSticky,
                )
            } else {
                (sample(w, cx.rng), Reason::BanditSampled)
            }
        }
        _ => {
            let i = if sticky {
                choose_weighted(cx.h, arms.iter().map(|a| (a.key, 1.0))).unwrap_or(0)
            } else {
                (cx.rng.next_u64() % arms.len().max(1) as u64) as usize
            };
            (i, Reason::BanditWarmup)
        }
    };
    Choice::pick(&arms[i].name, arms[i].origin, reason)
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
