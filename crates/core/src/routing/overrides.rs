//! Override tokens: a QA request carrying `x-switchyard-override: <token>` is served by the
//! arm the token names, whatever the route's strategy. Tokens are issued by the control plane
//! (`POST /_switchyard/overrides`, operator role) and signed like receipts.
//!
//! # Token format, o1
//!
//! ```text
//! o1.<base64url(payload)>.<base64url(tag)>
//! payload = route_len:u8 route  arm_len:u8 arm  expires_ms:u64 (big-endian)
//! tag     = first 16 bytes of HMAC-SHA256(key, 0x03 || payload)
//! ```
//!
//! The signed-token codec and the key are the receipts' (`receipt::codec`, `RECEIPT_KEY`);
//! the domain byte `0x03` under the MAC (`receipt::domain::OVERRIDE`) keeps override tokens
//! apart from receipts and unit ids, so none can pass for another. (Tokens signed with
//! `0x02`, the unit id's byte, before the registry existed no longer verify: issue new ones.)

use crate::base::{valid_name, NameChars, MAX_NAME_LEN};
use crate::config::{OriginId, Route, Strategy};
use crate::receipt::codec::{self, Unsealed};
use crate::receipt::{domain, ReceiptSigner};

pub const PREFIX: &str = "o1";
/// Longest validity an issued token may have.
pub const MAX_TTL_S: u64 = 7 * 24 * 3600;
const MAX_PAYLOAD: usize = 1 + MAX_NAME_LEN + 1 + MAX_NAME_LEN + 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub route: String,
    pub arm: String,
    pub expires_ms: u64,
}

/// Why a token was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideError {
    Malformed,
    BadSignature,
    Expired,
    /// Valid, but for another route or an arm the route does not have (any more).
    NotApplicable,
}

fn payload(route: &str, arm: &str, expires_ms: u64) -> Option<Vec<u8>> {
    if !valid_name(route.as_bytes(), NameChars::Any) || !valid_name(arm.as_bytes(), NameChars::Any)
    {
        return None;
    }
    let mut p = Vec::with_capacity(2 + route.len() + arm.len() + 8);
    p.push(route.len() as u8);
    p.extend_from_slice(route.as_bytes());
    p.push(arm.len() as u8);
    p.extend_from_slice(arm.as_bytes());
    p.extend_from_slice(&expires_ms.to_be_bytes());
    Some(p)
}

/// The token for (route, arm) valid until `expires_ms`; `None` for names over 64 bytes.
pub fn sign(signer: &ReceiptSigner, route: &str, arm: &str, expires_ms: u64) -> Option<String> {
    let p = payload(route, arm, expires_ms)?;
    Some(codec::seal(signer, domain::OVERRIDE, PREFIX, &p))
}

/// Checks the token's shape, signature (constant time) and expiry.
pub fn verify(signer: &ReceiptSigner, token: &str, now_ms: u64) -> Result<Override, OverrideError> {
    let mut pbuf = [0u8; MAX_PAYLOAD];
    let (p, _) = codec::open(signer, domain::OVERRIDE, PREFIX, token.trim(), &mut pbuf).map_err(
        |e| match e {
            Unsealed::Malformed => OverrideError::Malformed,
            Unsealed::BadSignature => OverrideError::BadSignature,
        },
    )?;
    let o = decode(p).ok_or(OverrideError::Malformed)?;
    if now_ms >= o.expires_ms {
        return Err(OverrideError::Expired);
    }
    Ok(o)
}

fn decode(p: &[u8]) -> Option<Override> {
    let rl = *p.first()? as usize;
    let route = std::str::from_utf8(p.get(1..1 + rl)?).ok()?;
    let al = *p.get(1 + rl)? as usize;
    let arm = std::str::from_utf8(p.get(2 + rl..2 + rl + al)?).ok()?;
    let exp: [u8; 8] = p.get(2 + rl + al..)?.try_into().ok()?;
    if route.is_empty() || arm.is_empty() {
        return None;
    }
    Some(Override {
        route: route.to_string(),
        arm: arm.to_string(),
        expires_ms: u64::from_be_bytes(exp),
    })
}

/// The origin of arm `arm` of `route`, by the names the route reports in
/// `x-switchyard-arm`: A/B and bandit arm names; `stable`/`canary`; the flag strategy's flag
/// names and `default`; `blue`/`green`; `from`/`to`; `origin`.
pub fn arm_origin<'r>(route: &'r Route, arm: &str) -> Option<(&'r str, OriginId)> {
    match &route.strategy {
        Strategy::Ab { arms, .. } | Strategy::Bandit { arms, .. } => arms
            .iter()
            .find(|a| a.name == arm)
            .map(|a| (a.name.as_str(), a.origin)),
        Strategy::Canary { stable, canary, .. } => match arm {
            "stable" => Some(("stable", *stable)),
            "canary" => Some(("canary", *canary)),
            _ => None,
        },
        Strategy::Flag { default, flags } => {
            if arm == "default" {
                return Some(("default", *default));
            }
            flags
                .iter()
                .find(|f| f.flag.name == arm)
                .map(|f| (f.flag.name.as_str(), f.origin))
        }
        Strategy::BlueGreen { blue, green, .. } => match arm {
            "blue" => Some(("blue", *blue)),
            "green" => Some(("green", *green)),
            _ => None,
        },
        Strategy::Rolling { from, to, .. } => match arm {
            "from" => Some(("from", *from)),
            "to" => Some(("to", *to)),
            _ => None,
        },
        Strategy::Recreate { origin, .. } => (arm == "origin").then_some(("origin", *origin)),
    }
}

/// Every arm name of the route (for error messages).
pub fn arm_names(route: &Route) -> Vec<&str> {
    match &route.strategy {
        Strategy::Ab { arms, .. } | Strategy::Bandit { arms, .. } => {
            arms.iter().map(|a| a.name.as_str()).collect()
        }
        Strategy::Canary { .. } => vec!["stable", "canary"],
        Strategy::Flag { flags, .. } => std::iter::once("default")
            .chain(flags.iter().map(|f| f.flag.name.as_str()))
            .collect(),
        Strategy::BlueGreen { .. } => vec!["blue", "green"],
        Strategy::Rolling { .. } => vec!["from", "to"],
        Strategy::Recreate { .. } => vec!["origin"],
    }
}

/// The forced arm for a request on `route` carrying `token`.
pub fn resolve<'r>(
    signer: &ReceiptSigner,
    route: &'r Route,
    token: &str,
    now_ms: u64,
) -> Result<(&'r str, OriginId), OverrideError> {
    let o = verify(signer, token, now_ms)?;
    if o.route != route.name {
        return Err(OverrideError::NotApplicable);
    }
    arm_origin(route, &o.arm).ok_or(OverrideError::NotApplicable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> ReceiptSigner {
        ReceiptSigner::new(b"test-key-0123456789abcdef")
    }

    const CFG: &str = r#"{"version":1,"origins":{"a":{"url":"http://127.0.0.1:1"},"b":{"url":"http://127.0.0.1:2"}},
      "routes":[{"name":"c","match":{"path_prefix":"/c"},"strategy":{"kind":"canary","stable":"a","canary":"b","percent":0}},
                {"name":"ab","match":{"path_prefix":"/ab"},"strategy":{"kind":"ab","arms":[{"name":"x","origin":"a","weight":1},{"name":"y","origin":"b","weight":0}]}}]}"#;

    #[test]
    fn round_trip_and_expiry() {
        let s = signer();
        let t = sign(&s, "c", "canary", 10_000).unwrap();
        assert!(t.starts_with("o1."));
        let o = verify(&s, &t, 9_999).unwrap();
        assert_eq!(
            (o.route.as_str(), o.arm.as_str(), o.expires_ms),
            ("c", "canary", 10_000)
        );
        assert_eq!(verify(&s, &t, 10_000), Err(OverrideError::Expired));
        assert_eq!(
            verify(&ReceiptSigner::new(b"another-key-0123456789"), &t, 0),
            Err(OverrideError::BadSignature)
        );
    }

    #[test]
    fn altered_tokens_are_refused() {
        let s = signer();
        let t = sign(&s, "c", "canary", u64::MAX).unwrap();
        // Flip every character of the payload and the tag in turn: never accepted.
        let b = t.as_bytes();
        for i in 3..b.len() {
            if b[i] == b'.' {
                continue;
            }
            let mut m = b.to_vec();
            m[i] = if m[i] == b'A' { b'B' } else { b'A' };
            let m = String::from_utf8(m).unwrap();
            assert!(verify(&s, &m, 0).is_err(), "accepted {m}");
        }
        assert_eq!(verify(&s, "o1..", 0), Err(OverrideError::Malformed));
        assert_eq!(verify(&s, "", 0), Err(OverrideError::Malformed));
        assert_eq!(
            verify(&s, &t.replacen("o1", "v1", 1), 0),
            Err(OverrideError::Malformed)
        );
        // A MAC of any other domain over the same payload does not verify.
        let p = payload("c", "canary", u64::MAX).unwrap();
        for (what, d) in domain::REGISTRY {
            let forged = codec::seal(&s, d, PREFIX, &p);
            let want = if d == domain::OVERRIDE {
                Ok(())
            } else {
                Err(OverrideError::BadSignature)
            };
            assert_eq!(verify(&s, &forged, 0).map(|_| ()), want, "{what}");
        }
        // In particular, the unit-id MAC (0x02) that override tokens once shared.
        let old = {
            let full = s.mac(&[&[domain::UNIT_ID], &p]);
            format!(
                "o1.{}.{}",
                crate::receipt::b64url_encode(&p),
                crate::receipt::b64url_encode(&full[..16])
            )
        };
        assert_eq!(verify(&s, &old, 0), Err(OverrideError::BadSignature));
        assert!(sign(&s, &"r".repeat(65), "a", 1).is_none());
    }

    #[test]
    fn resolves_arms_per_strategy() {
        let cfg = crate::config::parse(CFG).unwrap();
        let s = signer();
        let c = &cfg.routes[0];
        let t = sign(&s, "c", "canary", 100).unwrap();
        let (arm, origin) = resolve(&s, c, &t, 0).unwrap();
        assert_eq!(arm, "canary");
        assert_eq!(cfg.origin(origin).name, "b");
        // Bound to its route.
        assert_eq!(
            resolve(&s, &cfg.routes[1], &t, 0),
            Err(OverrideError::NotApplicable)
        );
        let t = sign(&s, "ab", "y", 100).unwrap();
        assert_eq!(resolve(&s, &cfg.routes[1], &t, 0).unwrap().0, "y");
        let t = sign(&s, "ab", "zz", 100).unwrap();
        assert_eq!(
            resolve(&s, &cfg.routes[1], &t, 0),
            Err(OverrideError::NotApplicable)
        );
        assert_eq!(arm_names(c), vec!["stable", "canary"]);
    }
}
