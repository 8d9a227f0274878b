//! Timestamps as AWS writes them. Pure conversions: the caller reads the clock.

/// Seconds and milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub unix_millis: i64,
}

impl Timestamp {
    pub fn from_unix_seconds(secs: i64) -> Self {
        Timestamp {
            unix_millis: secs.saturating_mul(1000),
        }
    }
    pub fn from_unix_millis(unix_millis: i64) -> Self {
        Timestamp { unix_millis }
    }
    pub fn unix_seconds(self) -> i64 {
        self.unix_millis.div_euclid(1000)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01: the inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days in `month` (1–12) of `year`, or 0 for a month that does not exist.
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

fn parts(t: Timestamp) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = t.unix_seconds();
    let millis = t.unix_millis.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    (y, mo, d, sod / 3600, sod % 3600 / 60, sod % 60, millis)
}

/// `2015-08-30T12:36:00Z`, as IAM writes dates.
pub fn format_iso8601(t: Timestamp) -> String {
    let mut out = String::with_capacity(20);
    write_iso8601(&mut out, t);
    out
}

/// [`format_iso8601`] appended to `out`: digits written directly, as every response that
/// carries a date writes one (no formatting machinery on that path).
pub fn write_iso8601(out: &mut String, t: Timestamp) {
    let (y, mo, d, h, mi, s, _) = parts(t);
    if !(0..=9999).contains(&y) {
        out.push_str(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"));
        return;
    }
    // Every part is within its width here (hours < 24, …): written into a fixed buffer.
    let mut text = *b"0000-00-00T00:00:00Z";
    for (at, value, width) in [
        (0, y, 4),
        (5, mo, 2),
        (8, d, 2),
        (11, h, 2),
        (14, mi, 2),
        (17, s, 2),
    ] {
        let mut value = value;
        for i in (at..at + width).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// `2015-08-30T12:36:00.123Z`.
pub fn format_iso8601_millis(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, ms) = parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (also `+00:00`), `YYYYMMDDTHHMMSSZ` and `YYYY-MM-DD`.
pub fn parse_iso8601(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d, rest_at) = if b.get(4) == Some(&b'-') {
        (num(0, 4)?, num(5, 2)?, num(8, 2)?, 10)
    } else {
        (num(0, 4)?, num(4, 2)?, num(6, 2)?, 8)
    };
    if !(1..=days_in_month(y, mo)).contains(&d) {
        return None;
    }
    let day = days_from_civil(y, mo, d);
    if rest_at == s.len() {
        return Some(Timestamp::from_unix_seconds(day * 86_400));
    }
    if b.get(rest_at) != Some(&b'T') {
        return None;
    }
    let t = rest_at + 1;
    let (h, mi, sec, mut at) = if b.get(t + 2) == Some(&b':') {
        (num(t, 2)?, num(t + 3, 2)?, num(t + 6, 2)?, t + 8)
    } else {
        (num(t, 2)?, num(t + 2, 2)?, num(t + 4, 2)?, t + 6)
    };
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut millis = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let frac = s.get(start..at)?;
        if frac.is_empty() {
            return None;
        }
        let padded = format!("{:0<3}", frac.get(..frac.len().min(3))?);
        millis = padded.parse::<i64>().ok()?;
    }
    let offset = match s.get(at..)? {
        "Z" | "" | "+00:00" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (num(at + 1, 2)? * 3600 + num(at + 4, 2)? * 60)
        }
        _ => return None,
    };
    let secs = day * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(Timestamp::from_unix_millis(secs * 1000 + millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let t = Timestamp::from_unix_seconds(1_440_938_160);
        assert_eq!(format_iso8601(t), "2015-08-30T12:36:00Z");
        assert_eq!(
            format_iso8601(Timestamp::from_unix_seconds(253_402_300_799)),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            format_iso8601(Timestamp::from_unix_seconds(253_402_300_800)),
            "10000-01-01T00:00:00Z"
        );
        assert_eq!(parse_iso8601("2015-08-30T12:36:00Z"), Some(t));
        assert_eq!(parse_iso8601("20150830T123600Z"), Some(t));
        assert_eq!(parse_iso8601("2015-08-30T14:36:00+02:00"), Some(t));
        assert_eq!(
            format_iso8601_millis(parse_iso8601("2015-08-30T12:36:00.5Z").unwrap_or_default()),
            "2015-08-30T12:36:00.500Z"
        );
        assert_eq!(
            format_iso8601(Timestamp::from_unix_seconds(0)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            parse_iso8601("2000-02-29"),
            Some(Timestamp::from_unix_seconds(951_782_400))
        );
        assert_eq!(parse_iso8601("2015-13-01T00:00:00Z"), None);
        assert_eq!(parse_iso8601("2015-02-29T00:00:00Z"), None);
        assert!(parse_iso8601("2016-02-29T00:00:00Z").is_some());
        assert_eq!(parse_iso8601("garbage"), None);
    }
}
