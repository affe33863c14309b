//! Resource quantities (`500m`, `16Gi`, `1e3`) read as exact numbers.
//!
//! The API server stores a quantity in its canonical spelling (`cpu: 1000m` comes back as `1`,
//! `memory: 16384Mi` as `16Gi`); k8s-openapi keeps quantities as text. Compared as text, a child
//! rendered from such a spec would differ from its live copy on every reconcile and be applied
//! again forever. Compared by value it does not.

/// Digits of precision a quantity keeps after the point: the API server rounds finer values up to
/// whole nanos (`0.1n` is stored as `1n`).
const NANO_EXPONENT: i32 = -9;
/// Decimal exponents larger than this are refused rather than computed (`1e100000`).
const MAX_EXPONENT: i32 = 60;

/// Why a text is not a quantity this module can compare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QuantityError {
    #[error(
        "{0:?} is not a quantity: expected a number with an optional suffix such as m, k, Mi, Gi or e3"
    )]
    Format(String),
    #[error("{0:?} is too large to compare exactly; write it with a larger suffix")]
    Range(String),
}

/// A quantity's value, `mantissa × 10^exponent`, with no trailing zeros in the mantissa, so two
/// spellings of one value are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quantity {
    mantissa: i128,
    exponent: i32,
}

impl Quantity {
    /// `(mantissa, exponent)`: equal for two spellings of one value.
    pub(crate) fn parts(self) -> (i128, i32) {
        (self.mantissa, self.exponent)
    }
}

/// Reads a quantity as the API server does: surrounding spaces are ignored, finer than nano is
/// rounded away from zero.
pub(crate) fn parse(text: &str) -> Result<Quantity, QuantityError> {
    let format = || QuantityError::Format(text.to_string());
    let range = || QuantityError::Range(text.to_string());
    let s = text.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format());
    }
    let mut mantissa: i128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(digit - b'0')))
            .ok_or_else(range)?;
    }
    let fraction_len = i32::try_from(fraction.len()).map_err(|_| range())?;
    let (binary_power, decimal_exponent) = suffix_value(suffix).ok_or_else(format)?;
    if decimal_exponent.abs() > MAX_EXPONENT {
        return Err(range());
    }
    let mantissa = mantissa
        .checked_mul(1i128 << binary_power)
        .ok_or_else(range)?;
    let mantissa = if negative { -mantissa } else { mantissa };
    Ok(normalise(mantissa, decimal_exponent - fraction_len))
}

/// The suffix as a power of two (0, 10, … 60) and a power of ten.
fn suffix_value(suffix: &str) -> Option<(u32, i32)> {
    let decimal = |e| Some((0, e));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => Some((10, 0)),
        "Mi" => Some((20, 0)),
        "Gi" => Some((30, 0)),
        "Ti" => Some((40, 0)),
        "Pi" => Some((50, 0)),
        "Ei" => Some((60, 0)),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Too many digits for an i32 is out of range, not malformed: map it past the limit.
            let value = exponent
                .parse::<i32>()
                .unwrap_or(if exponent.starts_with('-') {
                    i32::MIN
                } else {
                    i32::MAX
                });
            decimal(value)
        }
    }
}

/// Rounds to nanos (away from zero) and strips trailing zeros.
fn normalise(mut mantissa: i128, mut exponent: i32) -> Quantity {
    if exponent < NANO_EXPONENT {
        let shift = NANO_EXPONENT.saturating_sub(exponent).unsigned_abs();
        let divisor = 10i128.checked_pow(shift);
        mantissa = match divisor {
            Some(d) => {
                let q = mantissa / d;
                if mantissa % d == 0 {
                    q
                } else {
                    q + mantissa.signum()
                }
            }
            None => mantissa.signum(),
        };
        exponent = NANO_EXPONENT;
    }
    if mantissa == 0 {
        return Quantity {
            mantissa: 0,
            exponent: 0,
        };
    }
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    Quantity { mantissa, exponent }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether two texts are the same quantity (equal text always is, even if not a quantity).
    fn same(a: &str, b: &str) -> bool {
        a == b || matches!((parse(a), parse(b)), (Ok(x), Ok(y)) if x == y)
    }

    #[test]
    fn the_servers_canonical_spellings_are_the_same_value() {
        for (written, stored) in [
            ("1000m", "1"),
            ("16384Mi", "16Gi"),
            ("0.5", "500m"),
            ("1000", "1k"),
            ("1.5Gi", "1536Mi"),
            ("0.5Ki", "512"),
            ("1.5e3", "1500"),
            ("100e-3", "100m"),
            ("+2", "2"),
            (" 2 ", "2"),
            ("0Mi", "0"),
            ("-1500m", "-1500m"),
            ("0.1n", "1n"),
            ("1E", "1000P"),
            ("1Ei", "1024Pi"),
        ] {
            assert!(same(written, stored), "{written} is {stored}");
        }
    }

    #[test]
    fn different_values_differ() {
        for (a, b) in [
            ("1", "1Ki"),
            ("1k", "1Ki"),
            ("1m", "1M"),
            ("1500m", "1"),
            ("16Gi", "16G"),
            ("-1", "1"),
            ("1e3", "1e-3"),
        ] {
            assert!(!same(a, b), "{a} is not {b}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for text in [
            "", "m", "1.2.3", "1K", "1mi", "1e", "1e+", "abc", "1 Gi", "--1",
        ] {
            assert!(
                matches!(parse(text), Err(QuantityError::Format(_))),
                "{text:?}"
            );
        }
        assert!(matches!(parse("1e99999"), Err(QuantityError::Range(_))));
        assert!(matches!(
            parse("999999999999999999999999999999999999999999"),
            Err(QuantityError::Range(_))
        ));
        // Text that is not a quantity is still equal to itself.
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
    }
}
