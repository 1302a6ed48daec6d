//! Sticky bucketing, version 1.
//!
//! Every assignment is a pure function of `(salt, unit)`, so any other implementation can
//! reproduce it from the published vectors in `tests/fixtures/bucketing_v1.json`:
//!
//! - `h(salt, unit)`: the first 8 bytes, big-endian, of `SHA-256("sy1" 0x1F salt 0x1F unit)`.
//! - share check: `bucket = (h * 1_000_000) >> 64` (parts per million); a unit is inside a
//!   share of `p` ppm when `bucket < p`. Raising `p` keeps everyone who was in.
//! - weighted choice: weighted rendezvous hashing. For each arm `u = mix(h, key(arm))` mapped
//!   to the open interval (0,1) as `((x >> 12) + 0.5) / 2^52`, `score = -weight / ln(u)`; the highest score wins (ties go to
//!   the earlier arm, zero weights never win). `key(arm)` is the first 8 bytes of
//!   `SHA-256(arm name)`, `mix` is the SplitMix64 finaliser of `h ^ key`.

use sha2::{Digest, Sha256};

/// Parts per million in 100 %.
pub const PPM: u32 = 1_000_000;

/// `h(salt, unit)`: the sticky 64-bit hash of a unit under a decision's salt.
pub fn hash(salt: &str, unit: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(b"sy1\x1f");
    hasher.update(salt.as_bytes());
    hasher.update(b"\x1f");
    hasher.update(unit.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The unit's bucket in parts per million, `0..1_000_000`.
#[inline]
pub fn bucket_ppm(h: u64) -> u32 {
    ((h as u128 * PPM as u128) >> 64) as u32
}

/// Whether the unit falls inside a share of `share_ppm` parts per million.
#[inline]
pub fn in_share(h: u64, share_ppm: u32) -> bool {
    bucket_ppm(h) < share_ppm
}

/// The unit's slot among `n` equal slots (`0..n`), by the same multiply-shift as buckets.
#[inline]
pub fn slot(h: u64, n: u32) -> u32 {
    ((h as u128 * n as u128) >> 64) as u32
}

/// The rendezvous key of an arm name: first 8 bytes of SHA-256(name). Computed once per
/// config load, never per request.
pub fn arm_key(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// SplitMix64 finaliser of `h ^ key`.
#[inline]
pub fn mix(h: u64, key: u64) -> u64 {
    let mut z = (h ^ key).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps 64 bits to the open interval (0, 1): never 0 (ln would be -inf) and never 1.
/// 52 bits plus a half keep `2^52 - 0.5` exactly representable, so the top value stays
/// below 1.
#[inline]
pub fn unit_interval(x: u64) -> f64 {
    ((x >> 12) as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
}

/// Rendezvous score of one arm. Zero (never chosen) for a weight that is not positive.
#[inline]
pub fn score(h: u64, key: u64, weight: f64) -> f64 {
    if weight > 0.0 && weight.is_finite() {
        -weight / unit_interval(mix(h, key)).ln()
    } else {
        0.0
    }
}

/// Weighted rendezvous choice among `(key, weight)` arms; `None` when no weight is positive.
pub fn choose_weighted<I>(h: u64, arms: I) -> Option<usize>
where
    I: IntoIterator<Item = (u64, f64)>,
{
    let mut best: Option<(usize, f64)> = None;
    for (i, (key, weight)) in arms.into_iter().enumerate() {
        let s = score(h, key, weight);
        if s > 0.0 && best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_sha256_layout() {
        // Independent computation of the same bytes.
        let digest = Sha256::digest(b"sy1\x1ffraud:split\x1fuser-42");
        let expected = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(hash("fraud:split", "user-42"), expected);
    }

    #[test]
    fn bucket_bounds() {
        assert_eq!(bucket_ppm(0), 0);
        assert_eq!(bucket_ppm(u64::MAX), PPM - 1);
        assert!(!in_share(0, 0));
        assert!(in_share(u64::MAX, PPM));
        assert_eq!(slot(u64::MAX, 10), 9);
    }

    #[test]
    fn unit_interval_is_open() {
        assert!(unit_interval(0) > 0.0);
        assert!(unit_interval(u64::MAX) < 1.0);
    }

    #[test]
    fn zero_weights_never_win() {
        for h in [0, 1, u64::MAX, 0xDEAD_BEEF] {
            assert_eq!(choose_weighted(h, [(1, 0.0), (2, 0.0)]), None);
            assert_eq!(choose_weighted(h, [(1, 0.0), (2, 1.0), (3, 0.0)]), Some(1));
        }
    }
}
