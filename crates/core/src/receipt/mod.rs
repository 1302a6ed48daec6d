//! Feedback receipts: the `x-switchyard-receipt` header on every routed response.
//!
//! A receipt names the route, the arm, a hash of the unit, the config version, the issue time
//! and a random nonce, and is signed with HMAC-SHA256 under a Worker secret. The client hands
//! it back with `POST /_switchyard/feedback` and the route's Durable Object credits the arm
//! once per receipt ([`ReplayGuard`]).
//!
//! # Token format, v1
//!
//! ```text
//! v1.<base64url(payload)>.<base64url(tag)>          (base64url without padding)
//!
//! payload = route_len:u8  route:utf8[1..=64]
//!           arm_len:u8    arm:utf8[1..=64]
//!           unit_id:[u8; 8]      (ReceiptSigner::unit_id: keyed, not the bucketing hash)
//!           config_version:uleb128  issued_ms:uleb128
//!           nonce:[u8; 8] (big-endian u64)
//! tag     = first 16 bytes of HMAC-SHA256(key, 0x01 || payload)
//! ```
//!
//! The unit is named by [`ReceiptSigner::unit_id`], the first 8 bytes of
//! `HMAC-SHA256(key, 0x02 "unit" 0x1F unit)`: keyed with the receipt secret, so a receipt
//! (whose payload anyone can decode) reveals neither the unit's bucketing hash (which with a
//! route's public salt would give its bucket) nor, by a dictionary of likely ids, the unit.
//! Receipts signed before this change carried the bucketing hash in the same 8 bytes; nothing
//! reads the field back (the Durable Object credits by route and arm), so they verify as
//! before and the format stays `v1`.
//!
//! The leading `0x01` under the MAC binds the format version. A 128-bit truncated tag is
//! within RFC 2104's guidance (at least half the hash output) and keeps the token short: a
//! receipt for route `fraud`, arm `canary` is 74 characters. The receipt id used for replay
//! detection is the tag itself ([`ReceiptId`]): it cannot be chosen without the key and it
//! differs between receipts because the nonce and issue time differ.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::fmt;

/// Longest route or arm name a receipt carries, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// How far in the future an issue time may lie (clock skew between isolates), in ms.
pub const MAX_SKEW_MS: u64 = 5_000;
/// Bytes of the HMAC-SHA256 output kept in the token.
pub const TAG_LEN: usize = 16;
/// Token prefix of the current format.
pub const PREFIX_V1: &str = "v1";

const FORMAT_V1: u8 = 0x01;
const BLOCK: usize = 64;
const MAX_PAYLOAD: usize = 1 + MAX_NAME_LEN + 1 + MAX_NAME_LEN + 8 + 10 + 10 + 8;
const TOKEN_MAX: usize = 3 + b64_len(MAX_PAYLOAD) + 1 + b64_len(TAG_LEN);

/// Why a token was rejected. Each maps to a 4xx answer at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptError {
    /// Not a receipt at all: wrong shape, bad base64url, bad payload, bad name.
    Malformed,
    /// Well formed, but the tag does not match: forged, altered or signed with another key.
    BadSignature,
    /// Older than the accepted age.
    Expired,
    /// Issued further in the future than [`MAX_SKEW_MS`].
    FromFuture,
    /// A `vN.` prefix this code does not know.
    UnsupportedVersion,
}

impl ReceiptError {
    /// Stable machine-readable code for JSON error bodies.
    pub fn code(self) -> &'static str {
        match self {
            ReceiptError::Malformed => "receipt_malformed",
            ReceiptError::BadSignature => "receipt_bad_signature",
            ReceiptError::Expired => "receipt_expired",
            ReceiptError::FromFuture => "receipt_from_future",
            ReceiptError::UnsupportedVersion => "receipt_unsupported_version",
        }
    }
}

impl fmt::Display for ReceiptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            ReceiptError::Malformed => "receipt is malformed",
            ReceiptError::BadSignature => "receipt signature does not verify",
            ReceiptError::Expired => "receipt has expired",
            ReceiptError::FromFuture => "receipt is issued in the future",
            ReceiptError::UnsupportedVersion => "receipt version is not supported",
        };
        f.write_str(msg)
    }
}

impl std::error::Error for ReceiptError {}

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
        if !valid_name(route.as_bytes()) || !valid_name(arm.as_bytes()) {
            return Err(ReceiptError::Malformed);
        }
        Ok(Self {
            route: route.to_owned(),
            arm: arm.to_owned(),
            unit_hash,
            config_version,
            issued_ms,
            nonce,
        })
    }

    /// First 8 bytes of `SHA-256("sy1-receipt" 0x1F unit)`: domain-separated from the
    /// bucketing hash but unkeyed (for tests and benches). The edge names units with the
    /// keyed [`ReceiptSigner::unit_id`].
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

    /// Writes the binary payload into `buf`, returning its length.
    fn encode(&self, buf: &mut [u8; MAX_PAYLOAD]) -> usize {
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
        n + 8
    }

    fn decode(p: &[u8]) -> Option<Self> {
        let mut r = Reader { b: p, i: 0 };
        let route = r.name()?;
        let arm = r.name()?;
        let unit_hash: [u8; 8] = r.take(8)?.try_into().ok()?;
        let config_version = r.uleb()?;
        let issued_ms = r.uleb()?;
        let nonce = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
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
        })
    }
}

fn valid_name(b: &[u8]) -> bool {
    !b.is_empty() && b.len() <= MAX_NAME_LEN
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
        let mut h = self.inner.clone();
        for p in parts {
            h.update(p);
        }
        let ih = h.finalize();
        let mut o = self.outer.clone();
        o.update(ih);
        o.finalize().into()
    }

    /// The unit's id in a receipt: first 8 bytes of `HMAC-SHA256(key, 0x02 "unit" 0x1F
    /// unit)`. Keyed (unlike the bucketing hash, whose salt is in the public config), and
    /// domain-separated from receipt tags (`0x01 || payload`).
    pub fn unit_id(&self, unit: &str) -> [u8; 8] {
        let full = self.mac(&[b"\x02unit\x1f", unit.as_bytes()]);
        let mut out = [0u8; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    fn tag(&self, payload: &[u8]) -> [u8; TAG_LEN] {
        let full = self.mac(&[&[FORMAT_V1], payload]);
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&full[..TAG_LEN]);
        t
    }

    /// The header value for `r`: `v1.<payload>.<tag>`.
    pub fn sign(&self, r: &Receipt) -> String {
        self.sign_with_id(r).0
    }

    /// Like [`sign`](Self::sign), also returning the receipt id.
    pub fn sign_with_id(&self, r: &Receipt) -> (String, ReceiptId) {
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = r.encode(&mut buf);
        let payload = &buf[..n];
        let tag = self.tag(payload);
        let mut tok = [0u8; TOKEN_MAX];
        tok[..3].copy_from_slice(b"v1.");
        let mut o = 3;
        o += b64url_encode_to(payload, &mut tok[o..]).unwrap_or(0);
        tok[o] = b'.';
        o += 1;
        o += b64url_encode_to(&tag, &mut tok[o..]).unwrap_or(0);
        // All bytes written are ASCII, so this never falls back.
        let out = std::str::from_utf8(&tok[..o])
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

    /// Like [`verify`](Self::verify), also returning the id to deduplicate on.
    pub fn verify_with_id(
        &self,
        token: &str,
        now_ms: u64,
        max_age_ms: u64,
    ) -> Result<(Receipt, ReceiptId), ReceiptError> {
        let mut it = token.split('.');
        let (Some(ver), Some(p64), Some(t64), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(version_or_malformed(token.split('.').next().unwrap_or("")));
        };
        if ver != PREFIX_V1 {
            return Err(version_or_malformed(ver));
        }
        if p64.len() > b64_len(MAX_PAYLOAD) || t64.len() != b64_len(TAG_LEN) {
            return Err(ReceiptError::Malformed);
        }
        let mut pbuf = [0u8; MAX_PAYLOAD];
        let plen = b64url_decode_into(p64.as_bytes(), &mut pbuf).ok_or(ReceiptError::Malformed)?;
        let mut tbuf = [0u8; TAG_LEN];
        let tlen = b64url_decode_into(t64.as_bytes(), &mut tbuf).ok_or(ReceiptError::Malformed)?;
        if tlen != TAG_LEN {
            return Err(ReceiptError::Malformed);
        }
        let payload = &pbuf[..plen];
        let expected = self.tag(payload);
        if !ct_eq(&expected, &tbuf) {
            return Err(ReceiptError::BadSignature);
        }
        let r = Receipt::decode(payload).ok_or(ReceiptError::Malformed)?;
        if r.issued_ms > now_ms.saturating_add(MAX_SKEW_MS) {
            return Err(ReceiptError::FromFuture);
        }
        if now_ms.saturating_sub(r.issued_ms) > max_age_ms {
            return Err(ReceiptError::Expired);
        }
        Ok((r, ReceiptId(tbuf)))
    }
}

/// `vN` with N digits is a version we do not know; anything else is junk.
fn version_or_malformed(prefix: &str) -> ReceiptError {
    let b = prefix.as_bytes();
    if b.len() >= 2 && b[0] == b'v' && b[1..].iter().all(u8::is_ascii_digit) && prefix != PREFIX_V1
    {
        ReceiptError::UnsupportedVersion
    } else {
        ReceiptError::Malformed
    }
}

/// Constant-time equality of two equal-length byte strings.
fn ct_eq(a: &[u8; TAG_LEN], b: &[u8; TAG_LEN]) -> bool {
    let mut d = 0u8;
    for i in 0..TAG_LEN {
        d |= a[i] ^ b[i];
    }
    std::hint::black_box(d) == 0
}

// ---------------------------------------------------------------------------------------
// base64url, no padding (RFC 4648 section 5)

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encoded length of `n` bytes without padding.
pub const fn b64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// Writes the unpadded base64url encoding of `data` to the front of `out`, returning the
/// number of bytes written, or `None` if `out` is too small.
pub fn b64url_encode_to(data: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = b64_len(data.len());
    let out = out.get_mut(..n)?;
    let mut o = 0;
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let v = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out[o] = B64[(v >> 18) as usize & 63];
        out[o + 1] = B64[(v >> 12) as usize & 63];
        out[o + 2] = B64[(v >> 6) as usize & 63];
        out[o + 3] = B64[v as usize & 63];
        o += 4;
    }
    match *chunks.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            out[o] = B64[(v >> 18) as usize & 63];
            out[o + 1] = B64[(v >> 12) as usize & 63];
        }
        [a, b] => {
            let v = (u32::from(a) << 16) | (u32::from(b) << 8);
            out[o] = B64[(v >> 18) as usize & 63];
            out[o + 1] = B64[(v >> 12) as usize & 63];
            out[o + 2] = B64[(v >> 6) as usize & 63];
        }
        _ => {}
    }
    Some(n)
}

/// Unpadded base64url encoding of `data`.
pub fn b64url_encode(data: &[u8]) -> String {
    let mut v = vec![0u8; b64_len(data.len())];
    let n = b64url_encode_to(data, &mut v).unwrap_or(0);
    v.truncate(n);
    // The alphabet is ASCII, so this never fails.
    String::from_utf8(v).unwrap_or_default()
}

fn b64_val(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    } as u32)
}

/// Strict decode into `out`: rejects padding, foreign characters, impossible lengths,
/// non-zero unused bits and output that does not fit. Returns the decoded length.
pub fn b64url_decode_into(s: &[u8], out: &mut [u8]) -> Option<usize> {
    if s.len() % 4 == 1 {
        return None;
    }
    let need = s.len() * 3 / 4;
    if need > out.len() {
        return None;
    }
    let mut n = 0;
    let mut chunks = s.chunks_exact(4);
    for c in &mut chunks {
        let v = (b64_val(c[0])? << 18)
            | (b64_val(c[1])? << 12)
            | (b64_val(c[2])? << 6)
            | b64_val(c[3])?;
        out[n] = (v >> 16) as u8;
        out[n + 1] = (v >> 8) as u8;
        out[n + 2] = v as u8;
        n += 3;
    }
    match *chunks.remainder() {
        [a, b] => {
            let v = (b64_val(a)? << 18) | (b64_val(b)? << 12);
            if v & 0xffff != 0 {
                return None;
            }
            out[n] = (v >> 16) as u8;
            n += 1;
        }
        [a, b, c] => {
            let v = (b64_val(a)? << 18) | (b64_val(b)? << 12) | (b64_val(c)? << 6);
            if v & 0xff != 0 {
                return None;
            }
            out[n] = (v >> 16) as u8;
            out[n + 1] = (v >> 8) as u8;
            n += 2;
        }
        _ => {}
    }
    Some(n)
}

/// Strict unpadded base64url decode.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = vec![0u8; s.len() * 3 / 4];
    let n = b64url_decode_into(s.as_bytes(), &mut out)?;
    out.truncate(n);
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Replay protection

/// Remembers the ids of receipts already credited, for as long as they could still verify
/// (`max_age_ms + MAX_SKEW_MS` after issue), then forgets them. Lives in the route's Durable
/// Object storage (serde).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayGuard {
    /// (issued_ms, id) in insertion order; issue times are not monotone, so pruning scans.
    entries: VecDeque<(u64, ReceiptId)>,
    #[serde(skip)]
    index: HashSet<ReceiptId>,
}

impl ReplayGuard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `id` and returns `true` the first time; returns `false` on a replay.
    /// Forgets ids issued more than `max_age_ms + MAX_SKEW_MS` before `now_ms`.
    pub fn check_and_insert(
        &mut self,
        id: ReceiptId,
        issued_ms: u64,
        now_ms: u64,
        max_age_ms: u64,
    ) -> bool {
        self.prune(now_ms, max_age_ms);
        if self.index.len() != self.entries.len() {
            self.index = self.entries.iter().map(|e| e.1).collect();
        }
        if !self.index.insert(id) {
            return false;
        }
        self.entries.push_back((issued_ms, id));
        true
    }

    /// Drops ids whose receipts would now be rejected as expired anyway.
    pub fn prune(&mut self, now_ms: u64, max_age_ms: u64) {
        let horizon = now_ms.saturating_sub(max_age_ms.saturating_add(MAX_SKEW_MS));
        let before = self.entries.len();
        self.entries.retain(|e| e.0 >= horizon);
        if self.entries.len() != before {
            self.index = self.entries.iter().map(|e| e.1).collect();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// (issued_ms, id) of every remembered receipt (for moving them into a ledger table).
    pub fn entries(&self) -> impl Iterator<Item = (u64, ReceiptId)> + '_ {
        self.entries.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

// Native only: proptest is a native dev-dependency.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"switchyard-test-key-0123456789ab";
    const NOW: u64 = 1_790_000_000_000;
    const DAY: u64 = 86_400_000;

    fn typical() -> Receipt {
        Receipt::new(
            "fraud",
            "canary",
            Receipt::unit_hash_of("user-42"),
            17,
            NOW,
            0x0123_4567_89ab_cdef,
        )
        .unwrap()
    }

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
        // Longest names still give a header-safe token.
        let long = "x".repeat(64);
        let r = Receipt::new(&long, &long, [7; 8], u64::MAX, u64::MAX - 1, u64::MAX).unwrap();
        let tok = s.sign(&r);
        assert_eq!(s.verify(&tok, u64::MAX, DAY).unwrap(), r);
    }

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
        let tag = s.tag(&buf[..n]);
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
        let v2 = tok.replacen("v1.", "v2.", 1);
        assert_eq!(
            s.verify(&v2, NOW, DAY),
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
        let t = format!("v1.{}.{}", b64url_encode(&p), b64url_encode(&s.tag(&p)));
        assert_eq!(s.verify(&t, NOW, DAY), Err(ReceiptError::Malformed));
    }

    #[test]
    fn base64url_strict() {
        for n in 0..40usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let e = b64url_encode(&data);
            assert_eq!(e.len(), b64_len(n));
            assert_eq!(b64url_decode(&e).unwrap(), data);
        }
        assert_eq!(b64url_encode(b"\xfb\xff"), "-_8");
        assert!(b64url_decode("A").is_none());
        assert!(b64url_decode("AB").is_none()); // non-zero unused bits
        assert!(b64url_decode("AA==").is_none());
        assert!(b64url_decode("A+").is_none());
        assert_eq!(b64url_decode("AA").unwrap(), vec![0]);
    }

    #[test]
    fn replay_guard() {
        let s = ReceiptSigner::new(KEY);
        let (tok, _) = s.sign_with_id(&typical());
        let (r, id) = s.verify_with_id(&tok, NOW, DAY).unwrap();
        let mut g = ReplayGuard::new();
        assert!(g.check_and_insert(id, r.issued_ms(), NOW, DAY));
        assert!(!g.check_and_insert(id, r.issued_ms(), NOW + 10, DAY));
        // Survives a serde round trip (Durable Object storage).
        let json = serde_json::to_string(&g).unwrap();
        let mut g2: ReplayGuard = serde_json::from_str(&json).unwrap();
        assert!(!g2.check_and_insert(id, r.issued_ms(), NOW + 20, DAY));
        // Forgotten once the receipt could no longer verify.
        g2.prune(NOW + DAY + MAX_SKEW_MS + 1, DAY);
        assert!(g2.is_empty());
        assert_eq!(
            s.verify(&tok, NOW + DAY + MAX_SKEW_MS + 1, DAY),
            Err(ReceiptError::Expired)
        );
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
            let t = format!("v1.{p}.{m}");
            prop_assert!(s.verify(&t, NOW, DAY).is_err());
        }

        #[test]
        fn any_receipt_round_trips(route in "[a-z]{1,64}", arm in ".{1,16}", uh in any::<[u8; 8]>(),
                                   v in any::<u64>(), nonce in any::<u64>(), age in 0u64..DAY) {
            let s = ReceiptSigner::new(KEY);
            let r = Receipt::new(&route, &arm, uh, v, NOW - age, nonce).unwrap();
            let t = s.sign(&r);
            prop_assert_eq!(s.verify(&t, NOW, DAY).unwrap(), r);
        }
    }
}
