//! Durations as written in `spec.kms.rotation.every`: hours, minutes and seconds, such as `2160h`
//! or `1h30m` (the subset of Go's duration syntax the CRD pattern admits).

use std::time::Duration;

/// The shortest schedule accepted: rotating more often only churns topology transactions.
pub(crate) const MIN_EVERY: Duration = Duration::from_secs(3600);

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DurationError {
    #[error(
        "`{0}` is not a duration: write hours, minutes and seconds in that order, such as 2160h or 1h30m"
    )]
    Syntax(String),
    #[error("`{0}` is shorter than the minimum of 1h between rotations")]
    TooShort(String),
    #[error("`{0}` is zero: write a positive duration such as 10m")]
    Zero(String),
}

/// Parses `2160h`, `90m`, `1h30m15s`.
pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(text.to_string());
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut last_unit = 0u8;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let (rank, scale) = match c {
            'h' => (1, 3600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return Err(syntax()),
        };
        if digits.is_empty() || rank <= last_unit {
            return Err(syntax());
        }
        let n: u64 = digits.parse().map_err(|_| syntax())?;
        total = n
            .checked_mul(scale)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(syntax)?;
        digits.clear();
        last_unit = rank;
    }
    if !digits.is_empty() || last_unit == 0 {
        return Err(syntax());
    }
    Ok(Duration::from_secs(total))
}

/// Parses a timeout, which must be longer than zero.
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, DurationError> {
    let d = parse(text)?;
    if d.is_zero() {
        return Err(DurationError::Zero(text.to_string()));
    }
    Ok(d)
}

/// Parses a schedule and checks it against [`MIN_EVERY`].
pub(crate) fn parse_every(text: &str) -> Result<Duration, DurationError> {
    let d = parse(text)?;
    if d < MIN_EVERY {
        return Err(DurationError::TooShort(text.to_string()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hours_minutes_seconds() {
        assert_eq!(parse("2160h"), Ok(Duration::from_secs(2160 * 3600)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h0m5s"), Ok(Duration::from_secs(3605)));
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "",
            "h",
            "10",
            "10d",
            "1m1h",
            "1h1h",
            "-1h",
            "1.5h",
            "99999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_timeout_is_longer_than_zero() {
        assert_eq!(parse_timeout("10m"), Ok(Duration::from_secs(600)));
        for zero in ["0s", "0h0m0s", "00m"] {
            assert_eq!(
                parse_timeout(zero),
                Err(DurationError::Zero(zero.to_string()))
            );
        }
    }

    #[test]
    fn minimum_is_one_hour() {
        assert_eq!(
            parse_every("59m"),
            Err(DurationError::TooShort("59m".into()))
        );
        assert!(parse_every("60m").is_ok());
    }
}
