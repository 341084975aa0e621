//! Number parsing straight from bytes, for the per-row hot path.
//!
//! Integers (the common case for ids and Unix-second timestamps) take a digit loop
//! with no UTF-8 check and no allocation; everything else falls back to the
//! standard library's correctly rounded float parser. Accepted float syntax is the
//! standard library's (`1.5`, `-2e3`, `.5`, `nan`, `inf`); callers reject
//! non-finite values with their own error.

/// A whole field parsed as `i64`: optional sign, then ASCII digits only.
/// `None` for anything else, including overflow (such ids become strings).
#[inline]
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses too.
    let mut v: i64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(d as i64)?;
    }
    if neg { Some(v) } else { v.checked_neg() }
}

#[inline]
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    // `i64 as f64` rounds to nearest, ties to even: the same value the decimal
    // parser gives for that integer, so the fast path never changes a result.
    if let Some(v) = parse_i64(b) {
        return Some(v as f64);
    }
    std::str::from_utf8(b).ok()?.parse::<f64>().ok()
}

#[inline]
pub(crate) fn parse_f32(b: &[u8]) -> Option<f32> {
    // As in parse_f64: the int-to-float cast is correctly rounded.
    if let Some(v) = parse_i64(b) {
        return Some(v as f32);
    }
    std::str::from_utf8(b).ok()?.parse::<f32>().ok()
}

/// "NaN" or "infinite", for error messages.
pub(crate) fn non_finite_kind(v: f64) -> &'static str {
    if v.is_nan() { "NaN" } else { "infinite" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-17"), Some(-17));
        assert_eq!(parse_i64(b"+17"), Some(17));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b""[..], b"-", b"1.0", b"1e3", b" 1", b"a1", b"1a"] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn floats_match_std() {
        for s in
            ["0", "1289241911.72836", "-2.5e-3", "1e22", ".5", "123456789012345678901", "12345678901234567"]
        {
            assert_eq!(parse_f64(s.as_bytes()), s.parse::<f64>().ok(), "{s}");
            assert_eq!(parse_f32(s.as_bytes()), s.parse::<f32>().ok(), "{s}");
        }
        assert!(parse_f64(b"nan").unwrap().is_nan());
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1x"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f32(b"16777217"), Some(16777216.0));
    }
}
