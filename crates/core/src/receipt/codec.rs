//! The signed-token codec shared by every token Switchyard issues (receipts, override
//! tokens):
//!
//! ```text
//! <prefix>.<base64url(payload)>.<base64url(tag)>        (base64url without padding)
//! tag = first 16 bytes of HMAC-SHA256(key, domain || payload)
//! ```
//!
//! `prefix` names the format (`v1`, `v2`, `o1`), `domain` is the format's byte from
//! [`super::domain`]. The payload is opaque here: each format encodes and strictly decodes
//! its own. Opening checks the shape, then the tag in constant time, before anything reads
//! the payload.

use super::{b64_len, b64url_decode_into, b64url_encode_to};

/// Bytes of the HMAC-SHA256 output kept in a token.
pub const TAG_LEN: usize = 16;

/// The keyed MAC a token is signed with (the receipt signer's HMAC-SHA256 under
/// `RECEIPT_KEY`). A trait, so the codec needs nothing from the formats that use it.
pub trait Keyed {
    /// Full MAC of the concatenation of `parts`.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32];
}

/// Why a token could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsealed {
    /// Not `<prefix>.<payload>.<tag>` in base64url, or a payload longer than allowed.
    Malformed,
    /// Well formed, but the tag does not match: forged, altered, another key or another
    /// domain.
    BadSignature,
}

/// The length of the token for a payload of `n` bytes under a prefix of `prefix` bytes.
pub const fn token_len(prefix: usize, n: usize) -> usize {
    prefix + 1 + b64_len(n) + 1 + b64_len(TAG_LEN)
}

/// The tag of `payload` in `domain`.
pub fn tag<K: Keyed + ?Sized>(signer: &K, domain: u8, payload: &[u8]) -> [u8; TAG_LEN] {
    let full = signer.mac(&[&[domain], payload]);
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(&full[..TAG_LEN]);
    t
}

/// Writes the token into `out` (at least [`token_len`] bytes) and returns its length and
/// tag; `None` when `out` is too short.
pub fn seal_into<K: Keyed + ?Sized>(
    signer: &K,
    domain: u8,
    prefix: &str,
    payload: &[u8],
    out: &mut [u8],
) -> Option<(usize, [u8; TAG_LEN])> {
    let t = tag(signer, domain, payload);
    let p = prefix.as_bytes();
    out.get_mut(..p.len())?.copy_from_slice(p);
    let mut o = p.len();
    *out.get_mut(o)? = b'.';
    o += 1;
    o += b64url_encode_to(payload, out.get_mut(o..)?)?;
    *out.get_mut(o)? = b'.';
    o += 1;
    o += b64url_encode_to(&t, out.get_mut(o..)?)?;
    Some((o, t))
}

/// The token as a string (see [`seal_into`]).
pub fn seal<K: Keyed + ?Sized>(signer: &K, domain: u8, prefix: &str, payload: &[u8]) -> String {
    let mut out = vec![0u8; token_len(prefix.len(), payload.len())];
    let n = seal_into(signer, domain, prefix, payload, &mut out).map_or(0, |(n, _)| n);
    out.truncate(n);
    // Only ASCII was written.
    String::from_utf8(out).unwrap_or_default()
}

/// Opens a token of format `prefix` in `domain`: its payload (decoded into `buf`, whose
/// length is the longest payload the format allows) and its tag.
pub fn open<'b, K: Keyed + ?Sized>(
    signer: &K,
    domain: u8,
    prefix: &str,
    token: &str,
    buf: &'b mut [u8],
) -> Result<(&'b [u8], [u8; TAG_LEN]), Unsealed> {
    let rest = token
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('.'))
        .ok_or(Unsealed::Malformed)?;
    let (p64, t64) = rest.split_once('.').ok_or(Unsealed::Malformed)?;
    if t64.contains('.') || p64.len() > b64_len(buf.len()) || t64.len() != b64_len(TAG_LEN) {
        return Err(Unsealed::Malformed);
    }
    let plen = b64url_decode_into(p64.as_bytes(), buf).ok_or(Unsealed::Malformed)?;
    let mut got = [0u8; TAG_LEN];
    let tlen = b64url_decode_into(t64.as_bytes(), &mut got).ok_or(Unsealed::Malformed)?;
    if tlen != TAG_LEN {
        return Err(Unsealed::Malformed);
    }
    let payload = &buf[..plen];
    if !ct_eq(&tag(signer, domain, payload), &got) {
        return Err(Unsealed::BadSignature);
    }
    Ok((payload, got))
}

/// Constant-time equality of two tags.
fn ct_eq(a: &[u8; TAG_LEN], b: &[u8; TAG_LEN]) -> bool {
    let mut d = 0u8;
    for i in 0..TAG_LEN {
        d |= a[i] ^ b[i];
    }
    std::hint::black_box(d) == 0
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::receipt::domain::REGISTRY;
    use sha2::{Digest, Sha256};

    /// A keyed hash standing in for the receipt signer's HMAC (the codec takes any
    /// [`Keyed`]; the signer's own tests cover its HMAC).
    struct TestKey(&'static [u8]);

    impl Keyed for TestKey {
        fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(self.0);
            for p in parts {
                h.update(p);
            }
            h.finalize().into()
        }
    }

    #[test]
    fn round_trip() {
        let s = TestKey(b"switchyard-test-key-0123456789ab");
        for payload in [&b""[..], b"x", &[0xff; 150]] {
            let tok = seal(&s, 0x09, "t1", payload);
            assert_eq!(tok.len(), token_len(2, payload.len()));
            let mut buf = [0u8; 150];
            let (p, t) = open(&s, 0x09, "t1", &tok, &mut buf).unwrap();
            assert_eq!(p, payload);
            assert_eq!(t, tag(&s, 0x09, payload));
        }
        let mut small = [0u8; 4];
        let tok = seal(&s, 0x09, "t1", b"12345");
        assert_eq!(
            open(&s, 0x09, "t1", &tok, &mut small),
            Err(Unsealed::Malformed)
        );
        for bad in ["t1", "t1.", "t1..", "t2.AA.AA", "t1.AA.AA.AA", "xt1.AA.AA"] {
            assert_eq!(
                open(&s, 0x09, "t1", bad, &mut [0u8; 8]),
                Err(Unsealed::Malformed),
                "{bad}"
            );
        }
    }

    /// A token sealed in one domain never opens in another, whatever the prefixes: the
    /// domain byte, not the prefix, separates the kinds.
    #[test]
    fn domains_do_not_cross() {
        let s = TestKey(b"switchyard-test-key-0123456789ab");
        for (a, x) in REGISTRY {
            let tok = seal(&s, x, "t1", b"same payload");
            for (b, y) in REGISTRY {
                let mut buf = [0u8; 64];
                let opened = open(&s, y, "t1", &tok, &mut buf).map(|_| ());
                if x == y {
                    assert!(opened.is_ok(), "{a}");
                } else {
                    assert_eq!(opened, Err(Unsealed::BadSignature), "{a} opened as {b}");
                }
            }
        }
    }
}
