//! RFC 3339 timestamps. kipp-core never reads a clock: callers pass the time in.

use serde::{Deserialize, Serialize};

/// An RFC 3339 timestamp as on the wire (`2024-01-15T10:30:00Z`,
/// `2026-06-05T18:37:41.232733416Z`, or with a `+hh:mm` offset). The original
/// text is kept so values round-trip byte for byte; [`Timestamp::unix_nanos`]
/// gives the instant for comparisons.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp {
    text: String,
    nanos: i128,
}

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp: {0}")]
pub struct InvalidTimestamp(pub &'static str);

impl Timestamp {
    /// Parses an RFC 3339 date-time.
    pub fn parse(s: &str) -> Result<Self, InvalidTimestamp> {
        parse_rfc3339(s).map(|nanos| Self { text: s.to_owned(), nanos })
    }

    /// The UTC timestamp for a number of nanoseconds since the Unix epoch, with
    /// nanosecond precision (the form Kustom uses in webhook envelopes).
    #[must_use]
    pub fn from_unix_nanos(nanos: i128) -> Self {
        let secs = nanos.div_euclid(1_000_000_000);
        let frac = nanos.rem_euclid(1_000_000_000);
        let text = format!("{}.{frac:09}Z", format_secs(secs));
        Self { text, nanos }
    }

    /// The UTC timestamp for whole milliseconds since the epoch, printed with
    /// second precision when the milliseconds are zero (as Kustom's resources do).
    #[must_use]
    pub fn from_unix_millis(millis: i64) -> Self {
        let secs = i128::from(millis.div_euclid(1000));
        let ms = millis.rem_euclid(1000);
        let text = if ms == 0 { format!("{}Z", format_secs(secs)) } else { format!("{}.{ms:03}Z", format_secs(secs)) };
        Self { text, nanos: i128::from(millis) * 1_000_000 }
    }

    /// The same instant written in UTC (`Z`), with the fraction it needs: none for whole
    /// seconds, milliseconds when those are whole, else nanoseconds. Offsets, lower-case `t`/`z`
    /// and `-00:00` are all valid RFC 3339 on the way in; what a server stores and answers is
    /// UTC (API.md § Timestamps).
    /// An instant whose UTC year is outside 0000–9999 keeps its own text: RFC 3339 cannot write
    /// it in UTC (`9999-12-31T23:30:00-01:00` is in the year 10000 there).
    #[must_use]
    pub fn to_utc(&self) -> Self {
        // 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z, in seconds since the epoch.
        const UTC_RANGE_SECS: core::ops::Range<i128> = -62_167_219_200..253_402_300_800;
        if !UTC_RANGE_SECS.contains(&self.nanos.div_euclid(1_000_000_000)) {
            return self.clone();
        }
        let millis = self.nanos.div_euclid(1_000_000);
        match (self.nanos.rem_euclid(1_000_000), i64::try_from(millis)) {
            (0, Ok(ms)) => Self::from_unix_millis(ms),
            _ => Self::from_unix_nanos(self.nanos),
        }
    }

    /// Nanoseconds since the Unix epoch.
    #[must_use]
    pub fn unix_nanos(&self) -> i128 {
        self.nanos
    }

    /// Milliseconds since the Unix epoch (floored).
    #[must_use]
    pub fn unix_millis(&self) -> i64 {
        i64::try_from(self.nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }

    /// The wire text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.nanos.cmp(&other.nanos).then_with(|| self.text.cmp(&other.text))
    }
}

impl TryFrom<String> for Timestamp {
    type Error = InvalidTimestamp;
    fn try_from(s: String) -> Result<Self, InvalidTimestamp> {
        parse_rfc3339(&s).map(|nanos| Self { text: s, nanos })
    }
}
impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.text
    }
}
impl core::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.text)
    }
}

fn format_secs(secs: i128) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

// Howard Hinnant's days-from-civil algorithms, in i128 so no input overflows.
fn civil_from_days(z: i128) -> (i128, i128, i128) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i128, m: i128, d: i128) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i128, InvalidTimestamp> {
    let part = b.get(at..at + n).ok_or(InvalidTimestamp("too short"))?;
    part.iter().try_fold(0i128, |acc, c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + i128::from(c - b'0'))
        } else {
            Err(InvalidTimestamp("expected a digit"))
        }
    })
}

fn expect(b: &[u8], at: usize, want: &[u8]) -> Result<(), InvalidTimestamp> {
    match b.get(at) {
        Some(c) if want.contains(c) => Ok(()),
        _ => Err(InvalidTimestamp("expected YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)")),
    }
}

fn parse_rfc3339(s: &str) -> Result<i128, InvalidTimestamp> {
    let b = s.as_bytes();
    if b.len() > 40 {
        return Err(InvalidTimestamp("too long"));
    }
    let year = digits(b, 0, 4)?;
    expect(b, 4, b"-")?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b"-")?;
    let day = digits(b, 8, 2)?;
    expect(b, 10, b"Tt")?;
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b":")?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b":")?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return Err(InvalidTimestamp("field out of range"));
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let max_day = usize::try_from(month - 1).ok().and_then(|i| month_days.get(i).copied()).unwrap_or(0);
    if day < 1 || day > max_day {
        return Err(InvalidTimestamp("day out of range"));
    }
    let mut at = 19;
    let mut frac_nanos = 0i128;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let n = at - start;
        if n == 0 || n > 9 {
            return Err(InvalidTimestamp("fraction must have 1-9 digits"));
        }
        frac_nanos = digits(b, start, n)? * 10i128.pow(u32::try_from(9 - n).unwrap_or(0));
    }
    let offset_secs = match b.get(at) {
        Some(b'Z' | b'z') if b.len() == at + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == at + 6 => {
            let oh = digits(b, at + 1, 2)?;
            expect(b, at + 3, b":")?;
            let om = digits(b, at + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(InvalidTimestamp("offset out of range"));
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err(InvalidTimestamp("expected Z or ±hh:mm offset")),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Ok(secs * 1_000_000_000 + frac_nanos)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn parses_wire_forms() {
        let t = Timestamp::parse("2024-01-15T10:30:00Z").unwrap();
        assert_eq!(t.unix_millis(), 1_705_314_600_000);
        let n = Timestamp::parse("2026-06-05T18:37:41.232733416Z").unwrap();
        assert_eq!(n.unix_nanos() % 1_000_000_000, 232_733_416);
        let o = Timestamp::parse("2024-01-15T12:30:00+02:00").unwrap();
        assert_eq!(o.unix_nanos(), t.unix_nanos());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-15 10:30:00",
            "2024-01-15T10:30:00",
            "2024-01-15T10:30:00.Z",
            "2024-01-15T10:30:00.1234567890Z",
            "２０２４-01-15T10:30:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_and_round_trips() {
        let t = Timestamp::from_unix_millis(1_705_314_600_000);
        assert_eq!(t.as_str(), "2024-01-15T10:30:00Z");
        let n = Timestamp::from_unix_nanos(1_780_684_661_232_733_416);
        assert_eq!(n.as_str(), "2026-06-05T18:37:41.232733416Z");
        assert_eq!(Timestamp::parse(n.as_str()).unwrap().unix_nanos(), n.unix_nanos());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,48}") {
            let _ = Timestamp::parse(&s);
        }
        #[test]
        fn format_parse_round_trip(ms in -62_000_000_000_000i64..250_000_000_000_000i64) {
            let t = Timestamp::from_unix_millis(ms);
            proptest::prop_assert_eq!(Timestamp::parse(t.as_str()).unwrap().unix_millis(), ms);
        }
    }

    #[test]
    fn to_utc_writes_the_instant_in_utc() {
        let utc = |s: &str| Timestamp::parse(s).unwrap().to_utc().as_str().to_owned();
        assert_eq!(utc("2024-01-15T10:30:00+02:00"), "2024-01-15T08:30:00Z");
        assert_eq!(utc("2024-01-15t10:30:00z"), "2024-01-15T10:30:00Z");
        assert_eq!(utc("2024-01-15T10:30:00-00:00"), "2024-01-15T10:30:00Z");
        assert_eq!(utc("2024-01-15T10:30:00.250+01:00"), "2024-01-15T09:30:00.250Z");
        assert_eq!(utc("2024-01-15T10:30:00.123456789Z"), "2024-01-15T10:30:00.123456789Z");
        let t = Timestamp::parse("2024-01-15T10:30:00+02:00").unwrap();
        assert_eq!(t.to_utc().unix_nanos(), t.unix_nanos());
        // Out of RFC 3339's range in UTC: kept as given (and still readable).
        for edge in ["9999-12-31T23:30:00-01:00", "0000-01-01T00:00:00+01:00"] {
            assert_eq!(utc(edge), edge);
            assert!(Timestamp::parse(&utc(edge)).is_ok());
        }
        assert_eq!(utc("9999-12-31T23:59:59Z"), "9999-12-31T23:59:59Z");
        assert_eq!(utc("0000-01-01T01:00:00+01:00"), "0000-01-01T00:00:00Z");
    }
}
