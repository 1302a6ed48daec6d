//! The one registry of domain-separation bytes. Every message Switchyard MACs with the
//! `RECEIPT_KEY` secret starts with one of these bytes, one per kind of message, so that no
//! MAC computed for one purpose can pass for another: a receipt tag for an override token's,
//! a unit id for either. A new kind of token or MAC takes a new byte here, never a used one;
//! [`REGISTRY`] lists them all and a test checks that they are distinct.

/// Receipts, format `v1` (`tag = HMAC(key, 0x01 || payload)`).
pub const RECEIPT_V1: u8 = 0x01;
/// The keyed unit id in a receipt (`HMAC(key, 0x02 "unit" 0x1F unit)`).
pub const UNIT_ID: u8 = 0x02;
/// Override tokens, format `o1` (`tag = HMAC(key, 0x03 || payload)`). Tokens signed with
/// the unit id's byte `0x02`, as override tokens once were, no longer verify.
pub const OVERRIDE: u8 = 0x03;
/// Receipts, format `v2`: the `v1` payload and the route's feedback shard count.
pub const RECEIPT_V2: u8 = 0x04;

/// Every domain byte in use, with what it signs.
pub const REGISTRY: [(&str, u8); 4] = [
    ("receipt v1", RECEIPT_V1),
    ("unit id", UNIT_ID),
    ("override token o1", OVERRIDE),
    ("receipt v2", RECEIPT_V2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_byte_is_distinct() {
        for (i, (a, x)) in REGISTRY.iter().enumerate() {
            for (b, y) in &REGISTRY[i + 1..] {
                assert_ne!(x, y, "{a} and {b} share the domain byte {x:#04x}");
            }
        }
    }
}
