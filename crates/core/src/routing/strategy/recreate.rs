//! `recreate`: one origin for everyone (its health check is the edge's concern).

use super::{Choice, Cx};
use crate::config::OriginId;
use crate::routing::Reason;

pub(super) fn choose<'c, H: ?Sized, R>(origin: OriginId, _cx: &mut Cx<'_, '_, H, R>) -> Choice<'c> {
    Choice::pick("origin", origin, Reason::Recreate, 1.0)
}
