//! Parsing of sample counts as people write them: `100000000`, `1e8`,
//! `2.5e9`, `100M`, `1G`, `1_000_000`.
//!
//! The value is computed exactly in integers (no floating point), so `2.5e9`
//! is 2 500 000 000 and `1.5` is rejected as a fraction rather than rounded.

/// Decimal (SI) suffixes, case-insensitive. (No `E` for exa: `1e` would be
/// ambiguous with an exponent.)
const SUFFIXES: [(char, u32); 4] = [('k', 3), ('m', 6), ('g', 9), ('t', 12)];

/// Parses a positive whole number of samples.
pub(crate) fn parse_count(text: &str) -> Result<u64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("expected a number such as 100000000, 1e8, 2.5e9 or 100M".into());
    }
    if s.starts_with('-') {
        return Err(format!(
            "'{text}' is negative; the count must be at least 1"
        ));
    }
    let s = s.strip_prefix('+').unwrap_or(s).replace('_', "");

    // An SI suffix multiplies by a power of ten; it can't be mixed with `e`.
    let (body, mut exponent) = match s.chars().last() {
        Some(c) if c.is_ascii_alphabetic() && !s[..s.len() - 1].contains(['e', 'E']) => {
            let lower = c.to_ascii_lowercase();
            match SUFFIXES.iter().find(|(k, _)| *k == lower) {
                Some(&(_, power)) => (&s[..s.len() - 1], i64::from(power)),
                None => return Err(junk(text)),
            }
        }
        _ => (s.as_str(), 0),
    };
    let (mantissa, exp_text) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    if let Some(e) = exp_text {
        let e = e.strip_prefix('+').unwrap_or(e);
        let (sign, magnitude) = match e.strip_prefix('-') {
            Some(m) => (-1, m),
            None => (1, e),
        };
        if magnitude.is_empty() || !magnitude.bytes().all(|b| b.is_ascii_digit()) {
            return Err(junk(text));
        }
        // Any exponent beyond a million gives zero or overflow alike.
        let magnitude: i64 = magnitude.parse().unwrap_or(i64::MAX).min(1_000_000);
        exponent += sign * magnitude;
    }
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(junk(text));
    }

    // value = significant digits · 10^scale, exactly; with the trailing zeros
    // moved into the scale, a negative scale always leaves a fraction.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Err(format!("'{text}' is zero; the count must be at least 1"));
    }
    let significant = digits.trim_end_matches('0');
    let scale = exponent - frac_part.len() as i64 + (digits.len() - significant.len()) as i64;
    if scale < 0 {
        return Err(format!("'{text}' is not a whole number of samples"));
    }
    let overflow = || format!("'{text}' is too large (the maximum is {})", u64::MAX);
    if significant.len() as i64 + scale > 20 {
        return Err(overflow());
    }
    let value: u128 = significant.parse().map_err(|_| overflow())?;
    let value = value * 10u128.pow(scale as u32);
    u64::try_from(value).map_err(|_| overflow())
}

fn junk(text: &str) -> String {
    format!("'{text}' is not a count (examples: 100000000, 1e8, 2.5e9, 100M, 1G, 1_000_000)")
}

#[cfg(test)]
mod tests {
    use super::parse_count;

    #[test]
    fn accepts_the_usual_spellings() {
        for (text, want) in [
            ("100000000", 100_000_000),
            ("1e8", 100_000_000),
            ("1E8", 100_000_000),
            ("2.5e9", 2_500_000_000),
            ("100M", 100_000_000),
            ("1G", 1_000_000_000),
            ("1_000_000", 1_000_000),
            ("10k", 10_000),
            ("1.5M", 1_500_000),
            ("+7", 7),
            ("0.001e3", 1),
            ("1e+3", 1000),
            ("18446744073709551615", u64::MAX),
            (
                "1000000000000000000000000000000000000000000000e-30",
                1_000_000_000_000_000,
            ),
            ("2T", 2_000_000_000_000),
        ] {
            assert_eq!(parse_count(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_bad_counts_with_a_reason() {
        for (text, reason) in [
            ("0", "zero"),
            ("0e5", "zero"),
            ("-5", "negative"),
            ("-1e8", "negative"),
            ("1.5", "whole"),
            ("1e-3", "whole"),
            ("2.5e0", "whole"),
            ("18446744073709551616", "too large"),
            ("1e20", "too large"),
            ("20000000T", "too large"),
            ("1e999999999999", "too large"),
            ("1e99999999999999999999", "too large"),
            ("1e-9223372036854775808", "whole"),
            ("7e-9223372036854775808", "whole"),
            ("1.0e-9223372036854775807", "whole"),
            ("1e5-3", "not a count"),
            ("abc", "not a count"),
            ("", "expected"),
            ("1e", "not a count"),
            ("e8", "not a count"),
            ("1x", "not a count"),
            ("1e8M", "not a count"),
            ("1.2.3", "not a count"),
            (".", "not a count"),
            ("nan", "not a count"),
            ("inf", "not a count"),
        ] {
            let err = parse_count(text).expect_err(text);
            assert!(err.contains(reason), "{text}: {err}");
        }
    }
}
