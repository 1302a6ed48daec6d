//! Why a receipt token is rejected.

use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// Issued further in the future than [`MAX_SKEW_MS`](super::MAX_SKEW_MS).
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
