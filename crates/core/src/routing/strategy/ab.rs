//! `ab`: weighted arms, sticky per unit: by the route's allocation layout when one in KV
//! fits the configured weights (a weight change then moves only the units it has to), else
//! by weighted rendezvous hashing.

use super::{Choice, Cx};
use crate::base::choose_weighted;
use crate::config::Arm;
use crate::routing::{pick_layout, Reason};

pub(super) fn choose<'c, H: ?Sized, R>(arms: &'c [Arm], cx: &mut Cx<'_, '_, H, R>) -> Choice<'c> {
    // Arms drained by the health guard get no traffic (all of them: the configured split).
    let state = cx.state;
    let drained = |a: &Arm| state.is_some_and(|s| s.drained.contains(&a.name));
    // The layout's arm, unless drained: only the drained arm's units move elsewhere.
    let laid = pick_layout(cx.layouts, cx.h, arms.len(), &|i| {
        (arms[i].name.as_str(), arms[i].weight)
    })
    .filter(|i| !drained(&arms[*i]));
    let i = laid
        .or_else(|| {
            choose_weighted(
                cx.h,
                arms.iter()
                    .map(|a| (a.key, if drained(a) { 0.0 } else { a.weight })),
            )
        })
        .or_else(|| choose_weighted(cx.h, arms.iter().map(|a| (a.key, a.weight))))
        .unwrap_or(0);
    Choice::pick(&arms[i].name, arms[i].origin, Reason::Split)
}
