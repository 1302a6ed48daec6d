//! `rolling`: units move from `from` to `to` in whole batches (`completed / batches`); a unit
//! already moved stays moved as batches complete.

use super::{Choice, Cx};
use crate::base::slot;
use crate::config::OriginId;
use crate::routing::Reason;

pub(super) fn choose<'c, H: ?Sized, R>(
    from: OriginId,
    to: OriginId,
    batches: u32,
    completed: u32,
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    let done = cx
        .state
        .and_then(|s| s.completed)
        .unwrap_or(completed)
        .min(batches);
    // `slot` is uniform over the batches: `done` of them have moved.
    let p = if batches == 0 {
        0.0
    } else {
        f64::from(done) / f64::from(batches)
    };
    if slot(cx.h, batches) < done {
        Choice::pick("to", to, Reason::BatchMoved, p)
    } else {
        Choice::pick("from", from, Reason::BatchPending, 1.0 - p)
    }
}
