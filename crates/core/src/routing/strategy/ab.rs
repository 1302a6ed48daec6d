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
    let live = |a: &Arm| if drained(a) { 0.0 } else { a.weight };
    let any_live = arms.iter().any(|a| live(a) > 0.0);
    let i = laid
        .or_else(|| choose_weighted(cx.h, arms.iter().map(|a| (a.key, live(a)))))
        .or_else(|| choose_weighted(cx.h, arms.iter().map(|a| (a.key, a.weight))))
        .unwrap_or(0);
    // Each arm's share of units is its live weight's share: a layout that fits gives each arm
    // its weight's share of slots (to one slot), and a drained arm's units are spread over the
    // live arms by their weights, as rendezvous hashing alone would. With every arm drained,
    // the configured weights decide.
    let weight_of = |a: &Arm| if any_live { live(a) } else { a.weight };
    let total: f64 = arms.iter().map(weight_of).sum();
    let p = if total > 0.0 {
        weight_of(&arms[i]) / total
    } else {
        1.0
    };
    Choice::pick(&arms[i].name, arms[i].origin, Reason::Split, p)
}
