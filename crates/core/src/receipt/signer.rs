//! Signing and verification: [`ReceiptSigner`] (HMAC-SHA256 with precomputed keyed states,
//! also the keyed unit id), the receipt id used for replay detection ([`ReceiptId`]), and
//! why a token is rejected ([`ReceiptError`]: shape, signature, age, version).

use super::codec::{self, Unsealed};
use super::domain;
use super::error::ReceiptError;
use super::token::{MAX_PAYLOAD, TOKEN_MAX};
use super::{Receipt, PREFIX_V1, PREFIX_V2, TAG_LEN};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// How far in the future an issue time may lie (clock skew between isolates), in ms.
pub const MAX_SKEW_MS: u64 = 5_000;
/// SHA-256 block size (HMAC key padding).
const BLOCK: usize = 64;

/// A receipt's identity for replay detection: its 128-bit tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReceiptId(pub [u8; TAG_LEN]);

impl fmt::Display for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Signs and verifies receipts. Build once per isolate from the secret; the HMAC inner and
/// outer keyed states are precomputed, so a signature costs two SHA-256 finalisations over
/// about three blocks.
#[derive(Clone)]
pub struct ReceiptSigner {
    inner: Sha256,
    outer: Sha256,
}

impl fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiptSigner { .. }")
    }
}

impl ReceiptSigner {
    /// HMAC-SHA256 keyed with `key` (any length; use at least 32 random bytes).
    pub fn new(key: &[u8]) -> Self {
        let mut k = [0u8; BLOCK];
        if key.len() > BLOCK {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut ipad = [0x36u8; BLOCK];
        let mut opad = [0x5cu8; BLOCK];
        for i in 0..BLOCK {
            ipad[i] ^= k[i];
            opad[i] ^= k[i];
        }
        let mut inner = Sha256::new();
        inner.update(ipad);
        let mut outer = Sha256::new();
        outer.update(opad);
        Self { inner, outer }
    }

    /// Full HMAC-SHA256 of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        codec::Keyed::mac(self, parts)
    }
}

impl codec::Keyed for ReceiptSigner {
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = self.inner.clone();
        for p in parts {
            h.update(p);
        }
        let ih = h.finalize();
        let mut o = self.outer.clone();
        o.update(ih);
        o.finalize().into()
    }
}

impl ReceiptSigner {
    /// The unit's id in a receipt: first 8 bytes of `HMAC-SHA256(key, 0x02 "unit" 0x1F
    /// unit)` (`domain::UNIT_ID`). Keyed (unlike the bucketing hash, whose salt is in the
    /// public config), and domain-separated from every token's tag.
    pub fn unit_id(&self, unit: &str) -> [u8; 8] {
        let full = self.mac(&[&[domain::UNIT_ID], b"unit\x1f", unit.as_bytes()]);
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    /// The header value for `r`: `v2.<payload>.<tag>` when it carries its route's shard
    /// count, else `v1.<payload>.<tag>`.
    pub fn sign(&self, r: &Receipt) -> String {
        self.sign_with_id(r).0
    }

    /// Like [`sign`](Self::sign), also returning the receipt id.
    pub fn sign_with_id(&self, r: &Receipt) -> (String, ReceiptId) {
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = r.encode(&mut buf);
        let (prefix, domain) = format_of(r.shards().is_some());
        let mut tok = [0u8; TOKEN_MAX];
        let (len, tag) = codec::seal_into(self, domain, prefix, &buf[..n], &mut tok)
            .unwrap_or((0, [0; TAG_LEN]));
        // All bytes written are ASCII, so this never falls back.
        let out = std::str::from_utf8(&tok[..len])
            .unwrap_or_default()
            .to_owned();
        (out, ReceiptId(tag))
    }

    /// Checks shape, signature (constant time) and age. A receipt is accepted when
    /// `issued_ms <= now_ms + MAX_SKEW_MS` and `now_ms - issued_ms <= max_age_ms`.
    pub fn verify(
        &self,
        token: &str,
        now_ms: u64,
        max_age_ms: u64,
    ) -> Result<Receipt, ReceiptError> {
        self.verify_with_id(token, now_ms, max_age_ms)
            .map(|(r, _)| r)
    }

    /// Like [`verify`](Self::verify), also returning the id to deduplicate on. Both formats
    /// verify: `v2` and the `v1` receipts signed before it (without a shard count).
    pub fn verify_with_id(
        &self,
        token: &str,
        now_ms: u64,
        max_age_ms: u64,
    ) -> Result<(Receipt, ReceiptId), ReceiptError> {
        let version = token.split('.').next().unwrap_or("");
        let v2 = match version {
            PREFIX_V1 => false,
            PREFIX_V2 => true,
            other => return Err(version_or_malformed(other)),
        };
        let (prefix, domain) = format_of(v2);
        let mut pbuf = [0u8; MAX_PAYLOAD];
        let (payload, tag) =
            codec::open(self, domain, prefix, token, &mut pbuf).map_err(|e| match e {
                Unsealed::Malformed => ReceiptError::Malformed,
                Unsealed::BadSignature => ReceiptError::BadSignature,
            })?;
        let r = Receipt::decode(payload, v2).ok_or(ReceiptError::Malformed)?;
        if r.issued_ms() > now_ms.saturating_add(MAX_SKEW_MS) {
            return Err(ReceiptError::FromFuture);
        }
        if now_ms.saturating_sub(r.issued_ms()) > max_age_ms {
            return Err(ReceiptError::Expired);
        }
        Ok((r, ReceiptId(tag)))
    }
}

/// The token prefix and domain byte of a receipt format.
fn format_of(v2: bool) -> (&'static str, u8) {
    if v2 {
        (PREFIX_V2, domain::RECEIPT_V2)
    } else {
        (PREFIX_V1, domain::RECEIPT_V1)
    }
}

/// `vN` with N digits is a version we do not know; anything else is junk.
fn version_or_malformed(prefix: &str) -> ReceiptError {
    let b = prefix.as_bytes();
    if b.len() >= 2
        && b[0] == b'v'
        && b[1..].iter().all(u8::is_ascii_digit)
        && prefix != PREFIX_V1
        && prefix != PREFIX_V2
    {
        ReceiptError::UnsupportedVersion
    } else {
        ReceiptError::Malformed
    }
}

// Native only: proptest is a native dev-dependency.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::receipt::b64url_encode;
    use crate::receipt::fixtures::{typical, DAY, KEY, NOW};
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_length() {
        let s = ReceiptSigner::new(KEY);
        let r = typical();
        let (tok, id) = s.sign_with_id(&r);
        assert!(tok.starts_with("v1."));
        assert_eq!(tok.len(), 74, "{tok}");
        assert!(tok
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
        let (back, id2) = s.verify_with_id(&tok, NOW + 1000, DAY).unwrap();
        assert_eq!(back, r);
        assert_eq!(id, id2);
        // `v2` with a propensity (1 byte of shard count, 3 of propensity): 80 characters,
        // verified and decoded.
        let rp = typical()
            .with_shards(1)
            .unwrap()
            .with_propensity(Some(500_000));
        let tok = s.sign(&rp);
        assert_eq!(tok.len(), 80, "{tok}");
        let back = s.verify(&tok, NOW + 1000, DAY).unwrap();
        assert_eq!(back.propensity_ppm(), Some(500_000));
        // The propensity is under the MAC: a receipt cannot be given another one.
        let p64 = tok.split('.').nth(1).unwrap();
        let mut payload = crate::receipt::b64url_decode(p64).unwrap();
        let last = payload.len() - 1;
        payload[last] ^= 1;
        let forged = format!(
            "v2.{}.{}",
            b64url_encode(&payload),
            tok.split('.').nth(2).unwrap()
        );
        assert_eq!(
            s.verify(&forged, NOW + 1000, DAY),
            Err(ReceiptError::BadSignature)
        );
        // Longest names still give a header-safe token.
        let long = "x".repeat(64);
        let r = Receipt::new(&long, &long, [7; 8], u64::MAX, u64::MAX - 1, u64::MAX).unwrap();
        let tok = s.sign(&r);
        assert_eq!(s.verify(&tok, u64::MAX, DAY).unwrap(), r);
    }

    /// Known answers: RFC 4231 vectors for the raw HMAC, and a whole token whose expected
    /// value was computed independently with Python's `hmac` module by the command in
    /// [`KAT_CMD`].
    #[test]
    fn known_answer_vector() {
        // RFC 4231 test case 2 for the raw HMAC.
        let s = ReceiptSigner::new(b"Jefe");
        let mac = s.mac(&[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Long keys are hashed first (RFC 4231 test case 6).
        let s = ReceiptSigner::new(&[0xaa; 131]);
        let mac = s.mac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // A whole token, checked against KAT_TOKEN computed with Python (see KAT_CMD).
        let s = ReceiptSigner::new(KEY);
        let r = Receipt::new(
            "fraud",
            "canary",
            [1, 2, 3, 4, 5, 6, 7, 8],
            17,
            NOW,
            0x0123_4567_89ab_cdef,
        )
        .unwrap();
        assert_eq!(s.sign(&r), KAT_TOKEN);
    }

    /// The command that produced [`KAT_TOKEN`]:
    #[allow(dead_code)]
    const KAT_CMD: &str = r#"python3 -c '
import hmac, hashlib, base64
def uleb(v):
    out = bytearray()
    while True:
        b = v & 0x7f; v >>= 7
        if v: out.append(b | 0x80)
        else: out.append(b); return bytes(out)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
p = bytes([5]) + b"fraud" + bytes([6]) + b"canary" + bytes([1,2,3,4,5,6,7,8]) \
    + uleb(17) + uleb(1790000000000) + (0x0123456789abcdef).to_bytes(8, "big")
tag = hmac.new(b"switchyard-test-key-0123456789ab", b"\x01" + p, hashlib.sha256).digest()[:16]
print("v1." + b64(p) + "." + b64(tag))'"#;
    const KAT_TOKEN_V2: &str =
        "v2.BWZyYXVkBmNhbmFyeQECAwQFBgcIEYDYwaKMNAEjRWeJq83vBA.mGbrY4XvilMqURVvarEN5w";
    const KAT_TOKEN: &str =
        "v1.BWZyYXVkBmNhbmFyeQECAwQFBgcIEYDYwaKMNAEjRWeJq83v.iYHZVoEil51fNJhuEs7hPQ";

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn forged_tokens_are_rejected() {
        let s = ReceiptSigner::new(KEY);
        let tok = s.sign(&typical());
        // Flip every bit of every character position (keeping the alphabet where possible).
        let bytes = tok.as_bytes().to_vec();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let Ok(t) = std::str::from_utf8(&b) else {
                    continue;
                };
                assert!(
                    s.verify(t, NOW, DAY).is_err(),
                    "flip {i}:{bit} verified: {t}"
                );
            }
        }
        // Wrong key.
        let other = ReceiptSigner::new(b"another-key-another-key-another!");
        assert_eq!(
            other.verify(&tok, NOW, DAY),
            Err(ReceiptError::BadSignature)
        );
        // Truncated and extended.
        for n in 0..tok.len() {
            assert!(s.verify(&tok[..n], NOW, DAY).is_err(), "truncated to {n}");
        }
        for ext in ["A", "AA", "=", ".", ".x", "\0"] {
            assert!(s.verify(&format!("{tok}{ext}"), NOW, DAY).is_err());
        }
        // Swapped payload from another receipt with a valid tag of its own.
        let tok2 = s.sign(&Receipt::new("fraud", "stable", [0; 8], 17, NOW, 1).unwrap());
        let p1: Vec<&str> = tok.split('.').collect();
        let p2: Vec<&str> = tok2.split('.').collect();
        let spliced = format!("v1.{}.{}", p2[1], p1[2]);
        assert_eq!(
            s.verify(&spliced, NOW, DAY),
            Err(ReceiptError::BadSignature)
        );
    }

    #[test]
    fn bit_flip_in_payload_is_bad_signature() {
        let s = ReceiptSigner::new(KEY);
        let r = typical();
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = r.encode(&mut buf);
        let tag = codec::tag(&s, domain::RECEIPT_V1, &buf[..n]);
        for i in 0..n {
            for bit in 0..8 {
                let mut p = buf[..n].to_vec();
                p[i] ^= 1 << bit;
                let t = format!("v1.{}.{}", b64url_encode(&p), b64url_encode(&tag));
                assert_eq!(s.verify(&t, NOW, DAY), Err(ReceiptError::BadSignature));
            }
        }
    }

    #[test]
    fn time_checks() {
        let s = ReceiptSigner::new(KEY);
        let tok = s.sign(&typical());
        assert!(s.verify(&tok, NOW + DAY, DAY).is_ok());
        assert_eq!(
            s.verify(&tok, NOW + DAY + 1, DAY),
            Err(ReceiptError::Expired)
        );
        assert!(s.verify(&tok, NOW - MAX_SKEW_MS, DAY).is_ok());
        assert_eq!(
            s.verify(&tok, NOW - MAX_SKEW_MS - 1, DAY),
            Err(ReceiptError::FromFuture)
        );
        assert_eq!(s.verify(&tok, 0, DAY), Err(ReceiptError::FromFuture));
    }

    #[test]
    fn versions_and_junk() {
        let s = ReceiptSigner::new(KEY);
        let tok = s.sign(&typical());
        // A v1 token relabelled v2 (or back) fails its tag: the format is under the MAC.
        let v2 = tok.replacen("v1.", "v2.", 1);
        assert_eq!(s.verify(&v2, NOW, DAY), Err(ReceiptError::BadSignature));
        let tok2 = s.sign(&typical().with_shards(4).unwrap());
        let v1 = tok2.replacen("v2.", "v1.", 1);
        assert_eq!(s.verify(&v1, NOW, DAY), Err(ReceiptError::BadSignature));
        let v3 = tok.replacen("v1.", "v3.", 1);
        assert_eq!(
            s.verify(&v3, NOW, DAY),
            Err(ReceiptError::UnsupportedVersion)
        );
        assert_eq!(
            s.verify("v9", NOW, DAY),
            Err(ReceiptError::UnsupportedVersion)
        );
        for junk in [
            "",
            ".",
            "..",
            "v1..",
            "v1.a.b",
            "v1.AAAA.AAAA",
            "hello",
            "v1.!!.??",
            "V1.x.y",
            "v.x.y",
        ] {
            let e = s.verify(junk, NOW, DAY).unwrap_err();
            assert!(
                matches!(e, ReceiptError::Malformed | ReceiptError::BadSignature),
                "{junk}: {e:?}"
            );
        }
        // A correctly signed but structurally invalid payload is Malformed.
        let p = [0u8; 3];
        let t = codec::seal(&s, domain::RECEIPT_V1, "v1", &p);
        assert_eq!(s.verify(&t, NOW, DAY), Err(ReceiptError::Malformed));
        // A v2 payload must end in a shard count of 1 or more; a v1 payload has none.
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = typical().encode(&mut buf);
        for (prefix, d, tail) in [
            ("v2", domain::RECEIPT_V2, &[][..]),
            ("v2", domain::RECEIPT_V2, &[0][..]),
            ("v1", domain::RECEIPT_V1, &[1][..]),
        ] {
            let p = [&buf[..n], tail].concat();
            let t = codec::seal(&s, d, prefix, &p);
            assert_eq!(s.verify(&t, NOW, DAY), Err(ReceiptError::Malformed), "{t}");
        }
    }

    /// A `v2` receipt carries its route's feedback shard count under the MAC.
    #[test]
    fn shard_count_is_signed() {
        let s = ReceiptSigner::new(KEY);
        let r = typical().with_shards(4).unwrap();
        let (tok, id) = s.sign_with_id(&r);
        assert!(tok.starts_with("v2."), "{tok}");
        assert_eq!(tok.len(), 76, "{tok}");
        let (back, id2) = s.verify_with_id(&tok, NOW, DAY).unwrap();
        assert_eq!((back.shards(), id2), (Some(4), id));
        assert_eq!(back, r);
        assert_eq!(
            s.verify(&s.sign(&typical()), NOW, DAY).unwrap().shards(),
            None
        );
        assert_eq!(typical().with_shards(0), Err(ReceiptError::Malformed));
        assert_eq!(typical().with_shards(256), Err(ReceiptError::Malformed));
        // Known answer, computed independently (KAT_CMD with `b"\x04" + p + bytes([4])`
        // under the MAC and "v2." as the prefix).
        let r = Receipt::new(
            "fraud",
            "canary",
            [1, 2, 3, 4, 5, 6, 7, 8],
            17,
            NOW,
            0x0123_4567_89ab_cdef,
        )
        .unwrap()
        .with_shards(4)
        .unwrap();
        assert_eq!(s.sign(&r), KAT_TOKEN_V2);
    }

    proptest! {
        #[test]
        fn junk_never_panics_or_verifies(t in ".{0,200}") {
            let s = ReceiptSigner::new(KEY);
            prop_assert!(s.verify(&t, NOW, DAY).is_err());
        }

        #[test]
        fn shaped_junk_never_verifies(p in "[A-Za-z0-9_-]{0,120}", m in "[A-Za-z0-9_-]{0,30}") {
            let s = ReceiptSigner::new(KEY);
            for v in ["v1", "v2"] {
                let t = format!("{v}.{p}.{m}");
                prop_assert!(s.verify(&t, NOW, DAY).is_err());
            }
        }

        #[test]
        fn any_receipt_round_trips(route in "[a-z]{1,64}", arm in ".{1,16}", uh in any::<[u8; 8]>(),
                                   v in any::<u64>(), nonce in any::<u64>(), age in 0u64..DAY) {
            let s = ReceiptSigner::new(KEY);
            let r = Receipt::new(&route, &arm, uh, v, NOW - age, nonce).unwrap();
            let t = s.sign(&r);
            prop_assert_eq!(s.verify(&t, NOW, DAY).unwrap(), r.clone());
            let r = r.with_shards(1 + (nonce % 64) as u32).unwrap();
            let t = s.sign(&r);
            prop_assert_eq!(s.verify(&t, NOW, DAY).unwrap(), r);
        }
    }
}
