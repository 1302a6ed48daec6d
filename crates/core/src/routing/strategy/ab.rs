//! `ab`: weighted arms, sticky by weighted rendezvous hashing of the unit.

use super::{Choice, Cx};
use crate::base::choose_weighted;
use crate::config::Arm;
use crate::routing::Reason;

pub(super) fn choose<'c, H: ?Sized, R>(arms: &'c [Arm], cx: &mut Cx<'_, '_, H, R>) -> Choice<'c> {
    // Arms drained by the health guard get no traffic (all of them: the configured split).
    let state = cx.state;
    let drained = |a: &Arm| state.is_some_and(|s| s.drained.contains(&a.name));
    let live = |a: &Arm| if drained(a) { 0.0 } else { a.weight };
    let (i, weight_of): (usize, &dyn Fn(&Arm) -> f64) =
        match choose_weighted(cx.h, arms.iter().map(|a| (a.key, live(a)))) {
            Some(i) => (i, &live),
            None => (
                choose_weighted(cx.h, arms.iter().map(|a| (a.key, a.weight))).unwrap_or(0),
                &|a: &Arm| a.weight,
            ),
        };
    // Rendezvous hashing gives each arm exactly its weight's share of units.
    let total: f64 = arms.iter().map(weight_of).sum();
    let p = if total > 0.0 {
        weight_of(&arms[i]) / total
    } else {
        1.0
    };
    Choice::pick(&arms[i].name, arms[i].origin, Reason::Split, p)
}
