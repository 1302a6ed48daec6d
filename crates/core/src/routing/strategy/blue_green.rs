//! `blue_green`: every unit on the active side; `preview_header` reaches the inactive one;
//! `failover` names the other side for one retry of a replayable request.

use super::{Choice, Cx};
use crate::config::{OriginId, Side};
use crate::routing::Headers;
use crate::routing::Reason;

pub(super) fn choose<'c, H: Headers + ?Sized, R>(
    blue: OriginId,
    green: OriginId,
    active: Side,
    failover: bool,
    preview_header: Option<&str>,
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    let preview = preview_header.is_some_and(|name| cx.req.headers.get(name).is_some());
    let side = if preview { other(active) } else { active };
    let (arm, origin) = side_origin(side, blue, green);
    Choice {
        arm,
        origin,
        failover: (failover && !preview).then(|| side_origin(other(side), blue, green)),
        reason: if preview {
            Reason::Preview
        } else {
            Reason::Active
        },
        // Everyone is on the active side; a preview header forces the other one.
        propensity: (!preview).then_some(1.0),
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Blue => Side::Green,
        Side::Green => Side::Blue,
    }
}

fn side_origin(side: Side, blue: OriginId, green: OriginId) -> (&'static str, OriginId) {
    match side {
        Side::Blue => ("blue", blue),
        Side::Green => ("green", green),
    }
}
