//! Feedback receipts: the `x-switchyard-receipt` header on every routed response.
//!
//! A receipt names the route, the arm, a hash of the unit, the config version, the issue time
//! and a random nonce, and is signed with HMAC-SHA256 under a Worker secret. The client hands
//! it back with `POST /_switchyard/feedback` and the route's Durable Object credits the arm
//! once per receipt (its ledger table is keyed by the receipt id: `crate::learn`;
//! [`ReplayGuard`] is the in-memory form used by `learn::Learner` and the legacy import).
//!
//! # Token format, v2 (and v1)
//!
//! ```text
//! v2.<base64url(payload)>.<base64url(tag)>          (base64url without padding)
//!
//! payload = route_len:u8  route:utf8[1..=64]
//!           arm_len:u8    arm:utf8[1..=64]
//!           unit_id:[u8; 8]      (ReceiptSigner::unit_id: keyed, not the bucketing hash)
//!           config_version:uleb128  issued_ms:uleb128
//!           nonce:[u8; 8] (big-endian u64)
//!           shards:u8            (the route's feedback_shards at issue, 1..=255)
//!           [propensity_ppm:uleb128]   (optional, 1..=1000000)
//! tag     = first 16 bytes of HMAC-SHA256(key, 0x04 || payload)
//! ```
//!
//! `v1` is the same without `shards` and without a propensity, under the domain byte `0x01`:
//! receipts issued before `v2` still verify until they expire. The shard count is signed so
//! that the ledger shard that credits a receipt is fixed when it is issued: a later change of
//! `feedback_shards` cannot send a credited receipt to another shard, whose ledger has not
//! seen it.
//!
//! `propensity_ppm` is the probability, in parts per million, with which the policy in force
//! chose the receipt's arm for this request (`routing::Decision::propensity`): feedback
//! credited with it feeds off-policy evaluation. It is the payload's optional last field,
//! absent for a request that was no draw of the policy; anything after the shard count that
//! is not one canonical ULEB128 in 1..=1000000 makes the receipt malformed.
//!
//! The token is the signed-token codec of [`codec`] (shared with override tokens), and the
//! domain byte comes from the one registry [`domain`]; the byte under the MAC binds the
//! format, so a `v1` token relabelled `v2` (or any other token kind) fails its tag.
//!
//! The unit is named by [`ReceiptSigner::unit_id`], the first 8 bytes of
//! `HMAC-SHA256(key, 0x02 "unit" 0x1F unit)`: keyed with the receipt secret, so a receipt
//! (whose payload anyone can decode) reveals neither the unit's bucketing hash (which with a
//! route's public salt would give its bucket) nor, by a dictionary of likely ids, the unit.
//! Nothing reads the field back (the Durable Object credits by route and arm).
//!
//! A 128-bit truncated tag is within RFC 2104's guidance (at least half the hash output) and
//! keeps the token short: a receipt for route `fraud`, arm `canary` is 76 characters (80 with
//! a propensity). The receipt id used for replay detection is the tag itself ([`ReceiptId`]):
//! it cannot be chosen without the key and it differs between receipts because the nonce and
//! issue time differ.
//!
//! # Files
//!
//! One file per concern, all re-exported here (the public paths are `receipt::*`):
//! - `token.rs`: the payload above: [`Receipt`], its validation, binary encoding and strict
//!   decoding, and the format's constants;
//! - `signer.rs`: signing and verification with HMAC-SHA256 ([`ReceiptSigner`]), the
//!   receipt id ([`ReceiptId`]);
//! - `error.rs`: why a token is rejected ([`ReceiptError`]);
//! - `codec.rs`: the signed-token codec (`<prefix>.<payload>.<tag>`), also used by override
//!   tokens;
//! - `domain.rs`: the registry of domain-separation bytes of every MAC under `RECEIPT_KEY`;
//! - `base64url.rs`: strict unpadded base64url (RFC 4648 section 5);
//! - `replay.rs`: [`ReplayGuard`], an in-memory once-per-receipt guard (the object's own is its
//!   ledger table), and [`SpentIds`], the control plane's bounded cache of spent ids.

mod base64url;
pub mod codec;
pub mod domain;
mod error;
mod replay;
mod signer;
mod token;

pub use crate::base::MAX_NAME_LEN;
pub use base64url::{b64_len, b64url_decode, b64url_decode_into, b64url_encode, b64url_encode_to};
pub use error::ReceiptError;
pub use replay::{ReplayGuard, SpentIds};
pub use signer::{ReceiptId, ReceiptSigner, MAX_SKEW_MS};
pub use token::{Receipt, PREFIX_V1, PREFIX_V2, TAG_LEN};

/// Key, clock and a typical receipt shared by the unit tests of the files above.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod fixtures {
    use super::Receipt;

    pub(super) const KEY: &[u8] = b"switchyard-test-key-0123456789ab";
    pub(super) const NOW: u64 = 1_790_000_000_000;
    pub(super) const DAY: u64 = 86_400_000;

    pub(super) fn typical() -> Receipt {
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
}
