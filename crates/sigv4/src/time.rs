//! The two date formats SigV4 meets: ISO 8601 basic (`20150830T123600Z`, in `X-Amz-Date`, the
//! string to sign and the error messages) and the HTTP `Date` header's IMF-fixdate.

use gatehouse_types::{civil_from_days, days_from_civil, days_in_month};

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0i64, |acc, d| {
        acc.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    })
}

fn unix_from_parts(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let valid = (0..=9999).contains(&y)
        && (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&d)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..60).contains(&s);
    valid.then(|| days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Parses ISO 8601 basic format in UTC, exactly `YYYYMMDDTHHMMSSZ`, to Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, to: usize| b.get(from..to).and_then(digits);
    unix_from_parts(
        num(0, 4)?,
        num(4, 6)?,
        num(6, 8)?,
        num(9, 11)?,
        num(11, 13)?,
        num(13, 15)?,
    )
}

/// Formats Unix seconds as ISO 8601 basic format in UTC (`20150830T123600Z`).
pub fn format_amz_date(unix: i64) -> String {
    let (y, mo, d) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// [`format_amz_date`] on the stack, for the request path: `None` outside the years 0 to
/// 9999, which `parse_amz_date` never yields.
pub(crate) fn amz_date_bytes(unix: i64) -> Option<[u8; 16]> {
    let (y, mo, d) = civil_from_days(unix.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return None;
    }
    let secs = unix.rem_euclid(86_400);
    let mut out = *b"00000000T000000Z";
    let mut put = |at: usize, value: i64, width: usize| {
        let mut value = value;
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, y, 4);
    put(4, mo, 2);
    put(6, d, 2);
    put(9, secs / 3600, 2);
    put(11, secs / 60 % 60, 2);
    put(13, secs % 60, 2);
    Some(out)
}

/// Parses an HTTP `Date` in IMF-fixdate form (`Sun, 30 Aug 2015 12:36:00 GMT`).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day = digits(parts.next()?.as_bytes())?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = digits(parts.next()?.as_bytes())?;
    let mut hms = parts.next()?.split(':');
    let h = digits(hms.next()?.as_bytes())?;
    let mi = digits(hms.next()?.as_bytes())?;
    let sec = digits(hms.next()?.as_bytes())?;
    if hms.next().is_some() || parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    unix_from_parts(year, month, day, h, mi, sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_basic_format() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t, 1_440_938_160);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        assert_eq!(
            parse_amz_date("20240229T235959Z")
                .map(format_amz_date)
                .unwrap(),
            "20240229T235959Z"
        );
        for t in [0, 1_440_938_160, 1_709_251_199, 253_402_300_799] {
            assert_eq!(
                amz_date_bytes(t).map(|b| String::from_utf8(b.to_vec()).unwrap()),
                Some(format_amz_date(t))
            );
        }
        assert_eq!(amz_date_bytes(253_402_300_800), None);
    }

    #[test]
    fn rejects_other_formats() {
        for bad in [
            "2015-08-30T12:36:00Z",
            "20150830T123600",
            "20150830 123600Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T243600Z",
            "2015083aT123600Z",
            "+0150830T123600Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("30 Aug 2015 12:36:00 GMT"), None);
        assert_eq!(
            parse_http_date("Sun, 30 Aug 99999999999999999 12:36:00 GMT"),
            None
        );
        assert_eq!(
            parse_http_date("Sun, 99999999999999999999 Aug 2015 12:36:00 GMT"),
            None
        );
    }
}
