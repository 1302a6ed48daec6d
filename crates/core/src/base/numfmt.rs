//! `f64` to text without `core::fmt`'s float printing.
//!
//! `format!("{x}")` for an `f64` links core's Grisu and Dragon4 implementations (~16 KB of
//! wasm, ~7 KB gzip in the router). serde_json already carries a shortest-round-trip float
//! writer (zmij) for serialising numbers; [`display_f64`] takes its digits and lays them out
//! exactly as `Display for f64` does (plain decimal, never an exponent, no trailing `.0`), so
//! messages read the same. A test compares both on random bit patterns and on exact ties.

/// `format!("{}", x)`, byte for byte.
pub fn display_f64(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let Some(n) = serde_json::Number::from_f64(x) else {
        return "NaN".into();
    };
    // zmij writes `d[.ddd][e±N]`; split it into digits and the position of the point.
    let text = n.to_string();
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text.as_str()),
    };
    let (mantissa, exp) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = [int, frac].concat();
    let mut point = int.len() as i32 + exp;
    let lead = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..lead);
    point -= lead as i32;
    digits.truncate(digits.trim_end_matches('0').len());
    // Both writers emit the shortest digits that read back as `x`, nearest to `x`; on an
    // exact tie between two such strings zmij picks the even one and core rounds up.
    if exact_midpoint(x.abs(), &digits, point) {
        let mut d = digits.into_bytes();
        let mut i = d.len();
        loop {
            if i == 0 {
                d.insert(0, b'1');
                point += 1;
                break;
            }
            i -= 1;
            if d[i] == b'9' {
                d[i] = b'0';
            } else {
                d[i] += 1;
                break;
            }
        }
        digits = String::from_utf8(d).unwrap_or_default();
        digits.truncate(digits.trim_end_matches('0').len());
    }
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if digits.is_empty() {
        out.push('0');
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        let (a, b) = digits.split_at(point as usize);
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    }
    out
}

/// Whether `x` (positive, finite) is exactly `0.<digits>5 * 10^point`, halfway between
/// `digits` and the next string of the same length. `x = m * 2^e` with `m` odd; the midpoint
/// is `n * 5^a * 10^q` with `n` odd and not a multiple of 5, so both are equal exactly when
/// `e == q` and the odd parts agree.
fn exact_midpoint(x: f64, digits: &str, point: i32) -> bool {
    if x == 0.0 || digits.len() > 17 {
        return false;
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), biased - 1075)
    };
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    let mut n: u64 = 0;
    for b in digits.bytes().chain([b'5']) {
        n = n * 10 + u64::from(b - b'0');
    }
    let q = point - digits.len() as i32 - 1;
    if e != q {
        return false;
    }
    let mut a = 0i32;
    while n.is_multiple_of(5) {
        n /= 5;
        a += 1;
    }
    // m == n * 5^(a + q), or m * 5^-(a + q) == n.
    let k = a + q;
    let (mut lhs, rhs, k) = if k >= 0 {
        (u128::from(n), u128::from(m), k)
    } else {
        (u128::from(m), u128::from(n), -k)
    };
    for _ in 0..k {
        lhs *= 5;
        if lhs > rhs {
            return false;
        }
    }
    lhs == rhs
}

#[cfg(test)]
// Exact ties (e.g. 31203190018905.3125) are written out in full on purpose.
#[allow(clippy::excessive_precision)]
mod tests {
    use super::display_f64;
    use crate::base::{Rng, Xoshiro256};

    fn check(x: f64) {
        assert_eq!(display_f64(x), format!("{x}"), "bits {:#x}", x.to_bits());
    }

    #[test]
    fn same_as_display_for_special_and_typical_values() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.5,
            1.5,
            2.0,
            100.0,
            150.0,
            1e-6,
            1e-7,
            0.0001,
            12.3456,
            99.99999,
            1e15,
            1e16,
            1e21,
            1e22,
            1.7976931348623157e308,
            5e-324,
            2.2250738585072014e-308,
            123456789012345680.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0 / 3.0,
            0.30000000000000004,
            31_203_190_018_905.313,
            -1_606_888_647_415_107.3,
            0.5 + f64::EPSILON,
        ] {
            check(x);
        }
    }

    #[test]
    fn same_as_display_for_random_bit_patterns() {
        let mut rng = Xoshiro256::seed_from_u64(0x5eed);
        for _ in 0..300_000 {
            check(f64::from_bits(rng.next_u64()));
        }
        // Exact ties: few significant bits, so the value's decimal expansion is short.
        for _ in 0..100_000 {
            let m = rng.next_u64() >> (11 + rng.next_u64() % 40);
            let e = (rng.next_u64() % 120) as i32 - 60;
            check(m as f64 * 2f64.powi(e));
            check(-(m as f64) * 2f64.powi(e));
        }
        // Short decimals, as people write them in configs.
        for i in 0..200_000u64 {
            check(i as f64 / 10_000.0);
            check(i as f64 / 7.0);
        }
    }
}
