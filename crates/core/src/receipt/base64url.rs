//! Strict unpadded base64url (RFC 4648 section 5): encoding into a caller's buffer or a
//! `String`, and a decoder that rejects padding, foreign characters, impossible lengths and
//! non-zero unused bits. Receipts and override tokens use it.

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

// Native only, like every receipt test (proptest is a native dev-dependency).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

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
}
