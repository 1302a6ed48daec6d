//! `flag`: the first flag that is on for the unit picks its origin, else `default`. Also the
//! rule evaluation that route-level flags use.

use super::{Choice, Cx};
use crate::base::{self, in_share};
use crate::config::{Attr, Flag, Op, OriginFlag, OriginId, Rule, Semver};
use crate::routing::Reason;
use crate::routing::{Headers, RequestView};

pub(super) fn choose<'c, H: Headers + ?Sized, R>(
    default: OriginId,
    flags: &'c [OriginFlag],
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    for f in flags {
        if flag_on(&f.flag, cx.unit, cx.req) {
            return Choice::pick(&f.flag.name, f.origin, Reason::FlagOn);
        }
    }
    Choice::pick("default", default, Reason::FlagDefault)
}

/// A flag is on when all its rules match and the unit is inside its rollout.
pub fn flag_on<H: Headers + ?Sized>(flag: &Flag, unit: &str, req: &RequestView<'_, H>) -> bool {
    flag.rules.iter().all(|r| rule_matches(r, req))
        && (flag.rollout_ppm >= base::PPM
            || in_share(base::hash(&flag.salt, unit), flag.rollout_ppm))
}

fn rule_matches<H: Headers + ?Sized>(rule: &Rule, req: &RequestView<'_, H>) -> bool {
    let value = match &rule.attr {
        Attr::Header(n) => req.headers.get(n),
        Attr::Cookie(n) => req.cookie(n),
        Attr::Query(n) => req.query_param(n),
        Attr::Country => req.country.map(Into::into),
    };
    let Some(value) = value else {
        return false;
    };
    let v = value.as_ref();
    match &rule.op {
        Op::Eq(x) => v == x,
        Op::In(xs) => xs.iter().any(|x| x == v),
        Op::Prefix(xs) => xs.iter().any(|x| v.starts_with(x.as_str())),
        Op::SemverGte(min) => Semver::parse(v).is_some_and(|have| have >= *min),
    }
}
