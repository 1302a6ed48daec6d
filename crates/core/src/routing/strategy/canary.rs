//! `canary`: the first `percent` of units (a monotone share: raising it keeps everyone who was
//! in) go to the canary; the controller's state may move the share or roll it back to 0.
//! While a shadow gate is pending (`super::in_shadow_stage`) every unit goes to stable.

use super::{Choice, Cx};
use crate::base::{in_share, PPM};
use crate::config::{percent_to_ppm_lenient, OriginId};
use crate::routing::Reason;

pub(super) fn choose<'c, H: ?Sized, R>(
    stable: OriginId,
    canary: OriginId,
    percent_ppm: u32,
    shadow_stage: bool,
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    if shadow_stage {
        // A shadow gate is pending: the candidate gets mirrored requests, never live ones.
        return Choice::pick("stable", stable, Reason::ShadowGate, 1.0);
    }
    let (share, rolled_back) = match cx.state {
        Some(s) if s.rolled_back => (0, true),
        Some(s) => (
            s.canary_percent
                .and_then(percent_to_ppm_lenient)
                .unwrap_or(percent_ppm),
            false,
        ),
        None => (percent_ppm, false),
    };
    // `in_share` takes exactly `share` ppm of the hash space.
    let p = f64::from(share.min(PPM)) / f64::from(PPM);
    if in_share(cx.h, share) {
        Choice::pick("canary", canary, Reason::CanaryIn, p)
    } else if rolled_back {
        Choice::pick("stable", stable, Reason::RolledBack, 1.0)
    } else {
        Choice::pick("stable", stable, Reason::CanaryOut, 1.0 - p)
    }
}
