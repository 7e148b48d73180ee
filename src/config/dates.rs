//! `start_date` / `end_date`: an ISO date or datetime, or a day offset relative to now.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses `-30d`, `+365d`, `2024-01-31`, `2024-01-31T08:00:00`, `2024-01-31T08:00:00Z` or
/// `2024-01-31T08:00:00+02:00`. A date means midnight UTC; a datetime without offset is UTC.
pub fn parse(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Some(days) = t.strip_suffix('d').or_else(|| t.strip_suffix('D')) {
        let (sign, digits) = match days.as_bytes().first() {
            Some(b'+') => (1, &days[1..]),
            Some(b'-') => (-1, &days[1..]),
            _ => (0, days),
        };
        if sign != 0 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = digits
                .parse()
                .map_err(|_| format!("{text:?}: day offset too large"))?;
            return Duration::try_days(sign * n)
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(|| format!("{text:?}: day offset too large"));
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(Utc.from_utc_datetime(&n));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    Err(format!(
        "invalid date {text:?}: expected an ISO date (2024-01-31), an ISO datetime \
         (2024-01-31T08:00:00Z) or a day offset relative to now (-30d, +365d)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
    }

    #[test]
    fn relative_days_count_from_now() {
        assert_eq!(
            parse("-30d", now()).unwrap(),
            Utc.with_ymd_and_hms(2026, 2, 8, 12, 0, 0).unwrap()
        );
        assert_eq!(
            parse("+365d", now()).unwrap(),
            Utc.with_ymd_and_hms(2027, 3, 10, 12, 0, 0).unwrap()
        );
    }

    #[test]
    fn iso_forms_are_accepted() {
        let midnight = Utc.with_ymd_and_hms(2024, 1, 31, 0, 0, 0).unwrap();
        assert_eq!(parse("2024-01-31", now()).unwrap(), midnight);
        assert_eq!(parse("2024-01-31T00:00:00", now()).unwrap(), midnight);
        assert_eq!(parse("2024-01-31T00:00:00Z", now()).unwrap(), midnight);
        assert_eq!(parse("2024-01-31T02:00:00+02:00", now()).unwrap(), midnight);
    }

    #[test]
    fn words_and_unsigned_offsets_are_refused() {
        for bad in ["yesterday", "30d", "-d", "2024-13-01", "", "+1y"] {
            let err = parse(bad, now()).unwrap_err();
            assert!(err.contains("invalid date"), "{bad}: {err}");
        }
    }
}
