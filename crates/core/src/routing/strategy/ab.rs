//! `ab`: weighted arms, sticky by weighted rendezvous hashing of the unit.

use super::{Choice, Cx};
use crate::base::choose_weighted;
use crate::config::Arm;
use crate::routing::Reason;

pub(super) fn choose<'c, H: ?Sized, R>(arms: &'c [Arm], cx: &mut Cx<'_, '_, H, R>) -> Choice<'c> {
    // Arms drained by the health guard get no traffic (all of them: the configured split).
    let state = cx.state;
    let drained = |a: &Arm| state.is_some_and(|s| s.drained.contains(&a.name));
    let i = choose_weighted(
        cx.h,
        arms.iter()
            .map(|a| (a.key, if drained(a) { 0.0 } else { a.weight })),
    )
    .or_else(|| choose_weighted(cx.h, arms.iter().map(|a| (a.key, a.weight))))
    .unwrap_or(0);
    Choice::pick(&arms[i].name, arms[i].origin, Reason::Split)
}
