//! Receipt flow as the feedback endpoint will run it: verify, deduplicate, credit once.

use switchyard_core::observe::RouteAggregate;
use switchyard_core::receipt::{
    b64url_decode, b64url_encode, Receipt, ReceiptError, ReceiptSigner, ReplayGuard,
};

const MAX_AGE: u64 = 7 * 86_400_000;

#[test]
fn a_valid_receipt_counts_once() {
    let key = [42u8; 32];
    let signer = ReceiptSigner::new(&key);
    let now = 1_790_000_000_000;
    let r = Receipt::new("fraud", "canary", Receipt::unit_hash_of("u-1"), 17, now, 99).unwrap();
    let token = signer.sign(&r);

    let mut agg = RouteAggregate::new("fraud");
    let mut seen = ReplayGuard::new();
    let mut credit = |token: &str, t: u64| -> Result<bool, ReceiptError> {
        let (r, id) = signer.verify_with_id(token, t, MAX_AGE)?;
        if !seen.check_and_insert(id, r.issued_ms(), t, MAX_AGE) {
            return Ok(false);
        }
        agg.credit_reward(r.arm(), 1.0).unwrap();
        Ok(true)
    };
    assert_eq!(credit(&token, now + 10), Ok(true));
    assert_eq!(credit(&token, now + 20), Ok(false)); // replay
    assert_eq!(
        credit(&token, now + MAX_AGE + 1),
        Err(ReceiptError::Expired)
    );
    // Same payload with the arm renamed, keeping the original tag.
    let parts: Vec<&str> = token.split('.').collect();
    let payload = b64url_decode(parts[1]).unwrap();
    let text = String::from_utf8_lossy(&payload).replacen("canary", "stable", 1);
    let forged = format!("v1.{}.{}", b64url_encode(text.as_bytes()), parts[2]);
    assert_ne!(forged, token);
    assert_eq!(credit(&forged, now), Err(ReceiptError::BadSignature));
    assert!(credit("not a receipt", now).is_err());
    assert_eq!(agg.arm("canary").unwrap().reward_count, 1);
    assert!(agg.arm("stable").is_none());
}
