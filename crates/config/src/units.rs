//! Time intervals (`1w2d3h`, OpenSSH `convtime`) and byte counts (`2m512k`, `1.5G`).

use std::time::Duration;

/// The largest interval OpenSSH accepts (`INT_MAX` seconds).
pub const MAX_SECONDS: u64 = 2_147_483_647;

/// Why a time interval or byte count is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// Empty input.
    #[error("empty value")]
    Empty,
    /// A character that is neither a digit nor a known unit.
    #[error("unexpected character {0:?}")]
    BadChar(char),
    /// A unit letter with no number before it.
    #[error("unit {0:?} without a number")]
    MissingNumber(char),
    /// The value does not fit.
    #[error("value too large")]
    Overflow,
}

/// Parses an OpenSSH time interval: one or more `<number>[unit]` terms, units `s` (seconds,
/// the default), `m`, `h`, `d`, `w` (either case), summed: `1w2d3h` is 788400 seconds and a
/// plain `90` is 90 seconds. At most [`MAX_SECONDS`].
pub fn parse_time(s: &str) -> Result<Duration, UnitError> {
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            let n = num.unwrap_or(0);
            num = Some(
                n.checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d)))
                    .filter(|&n| n <= MAX_SECONDS)
                    .ok_or(UnitError::Overflow)?,
            );
            continue;
        }
        let mult: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(UnitError::BadChar(c)),
        };
        let n = num.take().ok_or(UnitError::MissingNumber(c))?;
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or(UnitError::Overflow)?;
    }
    if let Some(n) = num {
        total = total.checked_add(n).ok_or(UnitError::Overflow)?;
    }
    if total > MAX_SECONDS {
        return Err(UnitError::Overflow);
    }
    Ok(Duration::from_secs(total))
}

/// Parses a byte count: one or more `<number>[.<fraction>][unit]` terms, units `k`, `m`, `g`,
/// `t` (either case, powers of 1024; `b` or none for bytes), summed: `2m512k` is
/// 2·1048576 + 512·1024 = 2621440, `1.5G` is 1610612736. (OpenSSH's `scan_scaled` takes a
/// single term; whelk also accepts sums.)
pub fn parse_bytes(s: &str) -> Result<u64, UnitError> {
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    let mut total: u128 = 0;
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let mut int: u128 = 0;
        let mut digits = 0usize;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            chars.next();
            digits += 1;
            int = int
                .checked_mul(10)
                .and_then(|n| n.checked_add(u128::from(d)))
                .filter(|&n| n <= u128::from(u64::MAX))
                .ok_or(UnitError::Overflow)?;
        }
        // Fraction: numerator / 10^places, at most 18 places kept.
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        if chars.peek() == Some(&'.') {
            chars.next();
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                chars.next();
                digits += 1;
                if scale < 1_000_000_000_000_000_000 {
                    frac = frac * 10 + u128::from(d);
                    scale *= 10;
                }
            }
        }
        let unit = chars.next();
        let mult: u128 = match unit.map(|c| c.to_ascii_lowercase()) {
            None | Some('b') => 1,
            Some('k') => 1 << 10,
            Some('m') => 1 << 20,
            Some('g') => 1 << 30,
            Some('t') => 1 << 40,
            Some(_) => return Err(UnitError::BadChar(unit.unwrap_or(' '))),
        };
        if digits == 0 {
            return Err(match unit {
                Some(c) if c != '.' => {
                    if c.is_ascii_alphabetic() {
                        UnitError::MissingNumber(c)
                    } else {
                        UnitError::BadChar(c)
                    }
                }
                _ => UnitError::BadChar('.'),
            });
        }
        let term = int
            .checked_mul(mult)
            .and_then(|v| v.checked_add(frac * mult / scale))
            .ok_or(UnitError::Overflow)?;
        total = total.checked_add(term).ok_or(UnitError::Overflow)?;
        if total > u128::from(u64::MAX) {
            return Err(UnitError::Overflow);
        }
    }
    u64::try_from(total).map_err(|_| UnitError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = |s| parse_time(s).map(|d| d.as_secs());
        assert_eq!(t("0"), Ok(0));
        assert_eq!(t("90"), Ok(90));
        assert_eq!(t("90s"), Ok(90));
        assert_eq!(t("1m30s"), Ok(90));
        assert_eq!(t("1w2d3h"), Ok(604_800 + 2 * 86_400 + 3 * 3600));
        assert_eq!(
            t("1W2D3H4M5S"),
            Ok(604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5)
        );
        assert_eq!(t("1h1h"), Ok(7200));
        assert_eq!(t("10m5"), Ok(605));
        assert_eq!(t(""), Err(UnitError::Empty));
        assert_eq!(t("h"), Err(UnitError::MissingNumber('h')));
        assert_eq!(t("1x"), Err(UnitError::BadChar('x')));
        assert_eq!(t("-1"), Err(UnitError::BadChar('-')));
        assert_eq!(t("1 h"), Err(UnitError::BadChar(' ')));
        assert_eq!(t("2147483647"), Ok(2_147_483_647));
        assert_eq!(t("2147483648"), Err(UnitError::Overflow));
        assert_eq!(t("9999999w"), Err(UnitError::Overflow));
        assert_eq!(t("99999999999999999999999"), Err(UnitError::Overflow));
    }

    #[test]
    fn bytes() {
        let b = parse_bytes;
        assert_eq!(b("2m512k"), Ok(2 * 1_048_576 + 512 * 1024));
        assert_eq!(b("2M512K"), Ok(2 * 1_048_576 + 512 * 1024));
        assert_eq!(b("1G"), Ok(1 << 30));
        assert_eq!(b("1.5G"), Ok(3 << 29));
        assert_eq!(b("512"), Ok(512));
        assert_eq!(b("512b"), Ok(512));
        assert_eq!(b("1t"), Ok(1 << 40));
        assert_eq!(b("1k1"), Ok(1025));
        assert_eq!(b(""), Err(UnitError::Empty));
        assert_eq!(b("k"), Err(UnitError::MissingNumber('k')));
        assert_eq!(b("1x"), Err(UnitError::BadChar('x')));
        assert_eq!(b("."), Err(UnitError::BadChar('.')));
        assert_eq!(b("-1"), Err(UnitError::BadChar('-')));
        assert_eq!(b("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(b("18446744073709551616"), Err(UnitError::Overflow));
        assert_eq!(b("16777216t"), Err(UnitError::Overflow));
        assert_eq!(b("0.00000000000000000000001k"), Ok(0));
    }
}
