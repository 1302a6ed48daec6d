//! `flag`: the first flag that is on for the unit picks its origin, else `default`. Also the
//! rule evaluation that route-level flags use.

use super::{Choice, Cx};
use crate::base::{self, in_share};
use crate::config::{Attr, Flag, Op, OriginFlag, OriginId, Rule, Semver};
use crate::routing::Reason;
use crate::routing::{Headers, RequestView};
use std::borrow::Cow;

pub(super) fn choose<'c, H: Headers + ?Sized, R>(
    default: OriginId,
    flags: &'c [OriginFlag],
    cx: &mut Cx<'_, '_, H, R>,
) -> Choice<'c> {
    // Each flag's rollout hashes the unit under its own salt, so the rollouts are
    // independent draws: the propensity of flag i is the chance that every earlier flag whose
    // rules match was out and flag i in; of the default, that every matching flag was out.
    let mut p_none = 1.0;
    for f in flags {
        if !f.flag.rules.iter().all(|r| rule_matches(r, cx.req)) {
            continue;
        }
        let r = rollout_share(&f.flag);
        if f.flag.rollout_ppm >= base::PPM
            || in_share(base::hash(&f.flag.salt, cx.unit), f.flag.rollout_ppm)
        {
            return Choice::pick(&f.flag.name, f.origin, Reason::FlagOn, p_none * r);
        }
        p_none *= 1.0 - r;
    }
    Choice::pick("default", default, Reason::FlagDefault, p_none)
}

fn rollout_share(flag: &Flag) -> f64 {
    f64::from(flag.rollout_ppm.min(base::PPM)) / f64::from(base::PPM)
}

/// A flag is on when all its rules match and the unit is inside its rollout.
pub fn flag_on<H: Headers + ?Sized>(flag: &Flag, unit: &str, req: &RequestView<'_, H>) -> bool {
    flag.rules.iter().all(|r| rule_matches(r, req))
        && (flag.rollout_ppm >= base::PPM
            || in_share(base::hash(&flag.salt, unit), flag.rollout_ppm))
}

/// The value of a request attribute (`header:<name>`, `cookie:<name>`, `query:<name>`,
/// `country`), as rules and the decision log's context read it.
pub fn attr_value<'r, H: Headers + ?Sized>(
    attr: &Attr,
    req: &'r RequestView<'_, H>,
) -> Option<Cow<'r, str>> {
    match attr {
        Attr::Header(n) => req.headers.get(n),
        Attr::Cookie(n) => req.cookie(n),
        Attr::Query(n) => req.query_param(n),
        Attr::Country => req.country.map(Into::into),
    }
}

fn rule_matches<H: Headers + ?Sized>(rule: &Rule, req: &RequestView<'_, H>) -> bool {
    let Some(value) = attr_value(&rule.attr, req) else {
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
