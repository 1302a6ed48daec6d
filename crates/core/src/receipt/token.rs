//! The v1 token payload (layout in the [module doc](super)): [`Receipt`] with its name
//! validation, the binary encoding (length-prefixed names, ULEB128 integers) and its strict
//! decoder, and the constants that size a token.

use super::codec;
use super::error::ReceiptError;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::base::{valid_name, NameChars, MAX_NAME_LEN};

/// Longest route or arm name a receipt carries, in bytes.
pub use super::codec::TAG_LEN;
/// Token prefix of receipts without a shard count (signed before `v2`; still verified).
pub const PREFIX_V1: &str = "v1";
/// Token prefix of receipts that carry their route's feedback shard count.
pub const PREFIX_V2: &str = "v2";

/// Longest payload: two names of 64 bytes, unit id, two 10-byte ULEB128s, nonce, shards and
/// the propensity (a ULEB128 of at most 1,000,000: 3 bytes).
pub(super) const MAX_PAYLOAD: usize = 1 + MAX_NAME_LEN + 1 + MAX_NAME_LEN + 8 + 10 + 10 + 8 + 1 + 3;
/// A propensity in ppm is 1..=`PPM_MAX`.
const PPM_MAX: u64 = 1_000_000;
/// Longest token: `vN.` + payload + `.` + tag, base64url.
pub(super) const TOKEN_MAX: usize = codec::token_len(2, MAX_PAYLOAD);

/// The content of a receipt. Construct with [`Receipt::new`], which validates the names, so
/// that every `Receipt` value can be signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    route: String,
    arm: String,
    unit_hash: [u8; 8],
    config_version: u64,
    issued_ms: u64,
    nonce: u64,
    /// The probability the policy gave the arm, in ppm (1..=1,000,000); `None` in receipts
    /// signed before propensities existed.
    propensity_ppm: Option<u32>,
    /// The route's `feedback_shards` when the receipt was issued (`v2`); `None` for `v1`.
    shards: Option<u8>,
}

impl Receipt {
    /// `route` and `arm` must be 1..=64 bytes. `nonce` should come from the edge's RNG.
    pub fn new(
        route: &str,
        arm: &str,
        unit_hash: [u8; 8],
        config_version: u64,
        issued_ms: u64,
        nonce: u64,
    ) -> Result<Self, ReceiptError> {
        if !valid_name(route.as_bytes(), NameChars::Any)
            || !valid_name(arm.as_bytes(), NameChars::Any)
        {
            return Err(ReceiptError::Malformed);
        }
        Ok(Self {
            route: route.to_owned(),
            arm: arm.to_owned(),
            unit_hash,
            config_version,
            issued_ms,
            nonce,
            shards: None,
            propensity_ppm: None,
        })
    }

    /// The receipt with the arm's propensity in ppm (`routing::propensity_ppm`); a value
    /// outside 1..=1,000,000 is left out. Signed only in `v2` receipts (with a shard count).
    pub fn with_propensity(mut self, ppm: Option<u32>) -> Self {
        self.propensity_ppm = ppm.filter(|p| (1..=PPM_MAX).contains(&u64::from(*p)));
        self
    }

    /// The receipt with its route's feedback shard count (1..=255), signed as `v2`: the
    /// ledger shard that credits it is then fixed when it is issued, whatever
    /// `feedback_shards` says when it comes back.
    pub fn with_shards(mut self, shards: u32) -> Result<Self, ReceiptError> {
        match u8::try_from(shards) {
            Ok(n) if n >= 1 => {
                self.shards = Some(n);
                Ok(self)
            }
            _ => Err(ReceiptError::Malformed),
        }
    }

    /// First 8 bytes of `SHA-256("sy1-receipt" 0x1F unit)`: domain-separated from the
    /// bucketing hash but unkeyed (for tests and benches). The edge names units with the
    /// keyed [`ReceiptSigner::unit_id`](super::ReceiptSigner::unit_id).
    pub fn unit_hash_of(unit: &str) -> [u8; 8] {
        let mut h = Sha256::new();
        h.update(b"sy1-receipt\x1f");
        h.update(unit.as_bytes());
        let d = h.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&d[..8]);
        out
    }

    pub fn route(&self) -> &str {
        &self.route
    }
    pub fn arm(&self) -> &str {
        &self.arm
    }
    pub fn unit_hash(&self) -> [u8; 8] {
        self.unit_hash
    }
    pub fn config_version(&self) -> u64 {
        self.config_version
    }
    pub fn issued_ms(&self) -> u64 {
        self.issued_ms
    }
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
    /// The probability the policy gave the arm, in ppm (`v2` receipts that carry one).
    pub fn propensity_ppm(&self) -> Option<u32> {
        self.propensity_ppm.filter(|_| self.shards.is_some())
    }
    /// The route's feedback shard count at issue (`v2` receipts).
    pub fn shards(&self) -> Option<u32> {
        self.shards.map(u32::from)
    }

    /// Writes the binary payload into `buf`, returning its length.
    pub(super) fn encode(&self, buf: &mut [u8; MAX_PAYLOAD]) -> usize {
        let mut n = 0;
        for name in [self.route.as_bytes(), self.arm.as_bytes()] {
            // Names are validated by `new` (<= 64 bytes), so the length fits a byte.
            let len = name.len().min(MAX_NAME_LEN);
            buf[n] = len as u8;
            n += 1;
            buf[n..n + len].copy_from_slice(&name[..len]);
            n += len;
        }
        buf[n..n + 8].copy_from_slice(&self.unit_hash);
        n += 8;
        n = put_uleb(buf, n, self.config_version);
        n = put_uleb(buf, n, self.issued_ms);
        buf[n..n + 8].copy_from_slice(&self.nonce.to_be_bytes());
        n += 8;
        if let Some(k) = self.shards {
            buf[n] = k;
            n += 1;
            // The propensity is the optional last field of `v2`.
            if let Some(p) = self.propensity_ppm {
                n = put_uleb(buf, n, u64::from(p));
            }
        }
        n
    }

    /// Strict: exactly the fields of the format (`v2`: with a shard count of 1 or more).
    pub(super) fn decode(p: &[u8], v2: bool) -> Option<Self> {
        let mut r = Reader { b: p, i: 0 };
        let route = r.name()?;
        let arm = r.name()?;
        let unit_hash: [u8; 8] = r.take(8)?.try_into().ok()?;
        let config_version = r.uleb()?;
        let issued_ms = r.uleb()?;
        let nonce = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let shards = if v2 {
            Some(*r.take(1)?.first().filter(|&&k| k >= 1)?)
        } else {
            None
        };
        // `v2`: an optional trailing propensity, one canonical ULEB128 in 1..=1,000,000.
        let propensity_ppm = if v2 && r.i < p.len() {
            let v = r.uleb()?;
            if !(1..=PPM_MAX).contains(&v) {
                return None;
            }
            Some(v as u32)
        } else {
            None
        };
        if r.i != p.len() {
            return None;
        }
        Some(Self {
            route,
            arm,
            unit_hash,
            config_version,
            issued_ms,
            nonce,
            shards,
            propensity_ppm,
        })
    }
}

fn put_uleb(buf: &mut [u8], mut n: usize, mut v: u64) -> usize {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf[n] = byte;
            return n + 1;
        }
        buf[n] = byte | 0x80;
        n += 1;
    }
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        self.i = end;
        Some(s)
    }
    fn name(&mut self) -> Option<String> {
        let len = *self.take(1)?.first()? as usize;
        if len == 0 || len > MAX_NAME_LEN {
            return None;
        }
        let s = std::str::from_utf8(self.take(len)?).ok()?;
        Some(s.to_owned())
    }
    /// Canonical ULEB128 u64: at most 10 bytes, no overflow, no redundant trailing zero group.
    fn uleb(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for k in 0..10u32 {
            let byte = *self.take(1)?.first()?;
            let part = u64::from(byte & 0x7f);
            if k == 9 && part > 1 {
                return None;
            }
            v |= part << (7 * k);
            if byte & 0x80 == 0 {
                if k > 0 && byte == 0 {
                    return None;
                }
                return Some(v);
            }
        }
        None
    }
}

// Native only, like every receipt test (proptest is a native dev-dependency).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert_eq!(
            Receipt::new("", "a", [0; 8], 1, 1, 1),
            Err(ReceiptError::Malformed)
        );
        assert_eq!(
            Receipt::new("r", &"a".repeat(65), [0; 8], 1, 1, 1),
            Err(ReceiptError::Malformed)
        );
        assert!(Receipt::new("r", "ärm", [0; 8], 1, 1, 1).is_ok());
    }

    #[test]
    fn propensity_is_an_optional_trailing_field_of_v2() {
        let r = Receipt::new("r", "a", [1; 8], 2, 3, 4)
            .unwrap()
            .with_shards(4)
            .unwrap();
        let mut buf = [0u8; MAX_PAYLOAD];
        let old_len = r.encode(&mut buf);
        // Without it: a `v2` payload that decodes to `None`.
        assert_eq!(Receipt::decode(&buf[..old_len], true), Some(r.clone()));
        for ppm in [1u32, 127, 128, 500_000, 1_000_000] {
            let with = r.clone().with_propensity(Some(ppm));
            let n = with.encode(&mut buf);
            assert!(n > old_len && n <= old_len + 3, "{ppm}: {n}");
            let back = Receipt::decode(&buf[..n], true).unwrap();
            assert_eq!(back.propensity_ppm(), Some(ppm));
            assert_eq!(back, with);
        }
        assert_eq!(r.clone().with_propensity(Some(0)).propensity_ppm(), None);
        assert_eq!(
            r.clone().with_propensity(Some(1_000_001)).propensity_ppm(),
            None
        );
        // Out-of-range or non-canonical trailing bytes are malformed, not ignored.
        let n = r.encode(&mut buf);
        for tail in [&[0u8][..], &[0x80, 0x00], &[0xc1, 0x84, 0x3d], &[1, 1]] {
            let mut p = buf[..n].to_vec();
            p.extend_from_slice(tail);
            assert_eq!(Receipt::decode(&p, true), None, "{tail:?}");
        }
        // `v1` carries none: a propensity is not encoded without a shard count, and a `v1`
        // payload with a trailing byte is malformed.
        let v1 = Receipt::new("r", "a", [1; 8], 2, 3, 4)
            .unwrap()
            .with_propensity(Some(500_000));
        let n = v1.encode(&mut buf);
        assert_eq!(
            Receipt::decode(&buf[..n], false).map(|b| b.propensity_ppm()),
            Some(None)
        );
        let mut p = buf[..n].to_vec();
        p.push(1);
        assert_eq!(Receipt::decode(&p, false), None);
    }
}
