//! The receipt parser. Two inputs from one buffer: the first byte picks the mode.
//! - any token: `verify` never panics and a random string never verifies;
//! - any payload, correctly signed (so the binary decoder behind the MAC is reached): never
//!   panics, and a payload that decodes re-signs to exactly the same token (one encoding
//!   per receipt).
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchyard_core::receipt::{b64url_encode, ReceiptSigner};

const KEY: &[u8] = b"fuzz-key-0123456789abcdef0123456789";

fuzz_target!(|data: &[u8]| {
    let signer = ReceiptSigner::new(KEY);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now = 1_700_000_000_000u64;
    if mode & 1 == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            let _ = signer.verify(token, now, u64::MAX);
        }
        return;
    }
    let full = signer.mac(&[&[0x01], rest]);
    let token = format!("v1.{}.{}", b64url_encode(rest), b64url_encode(&full[..16]));
    if let Ok(r) = signer.verify(&token, now, u64::MAX) {
        assert_eq!(signer.sign(&r), token, "re-signing changed the token");
    }
});
