//! Timestamps of LAST-MODIFIED and REV as instants.
//!
//! Accepts every RFC 6350 timestamp, date-time and date form (basic and extended, with `Z`,
//! with `±hh`, `±hhmm` or `±hh:mm` offsets or none, reduced-accuracy dates, fractional
//! seconds as vCard 3.0 writers use them) and the RFC 5545 DATE-TIME forms. The string is only
//! rearranged into one fixed shape; chrono validates it and does the date arithmetic.
//! A time without offset and a date alone are taken as UTC (a date at midnight): both sides of
//! a comparison come from the same kind of writer, and an instant is needed.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Parses a LAST-MODIFIED/REV value; `None` for forms that name no instant (`--0412`) or for
/// anything invalid.
pub(crate) fn parse_timestamp(value: &[u8]) -> Option<DateTime<Utc>> {
    let s = std::str::from_utf8(value).ok()?.trim();
    if s.starts_with("--") {
        return None;
    }
    let (date_part, time_part) = match s.find(['T', 't']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut digits = String::with_capacity(20);
    for c in date_part.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '-' => {}
            _ => return None,
        }
    }
    match digits.len() {
        8 => {}
        6 if date_part.contains('-') => digits.push_str("01"),
        4 => digits.push_str("0101"),
        _ => return None,
    }
    let Some(time) = time_part else {
        let d = NaiveDate::parse_from_str(&digits, "%Y%m%d").ok()?;
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    };
    // Split off the zone.
    let (clock, zone) = if let Some(t) = time.strip_suffix(['Z', 'z']) {
        (t, Some("+0000".to_owned()))
    } else if let Some(i) = time.find(['+', '-']) {
        let z: String = time[i..].chars().filter(|&c| c != ':').collect();
        let z = match z.len() {
            3 => z + "00",
            5 => z,
            _ => return None,
        };
        (&time[..i], Some(z))
    } else {
        (time, None)
    };
    let clock = clock.split(['.', ',']).next().unwrap_or("");
    let start = digits.len();
    for c in clock.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ':' => {}
            _ => return None,
        }
    }
    match digits.len() - start {
        2 => digits.push_str("0000"),
        4 => digits.push_str("00"),
        6 => {}
        _ => return None,
    }
    match zone {
        Some(z) => {
            digits.push_str(&z);
            DateTime::parse_from_str(&digits, "%Y%m%d%H%M%S%z")
                .ok()
                .map(|d| d.with_timezone(&Utc))
        }
        None => NaiveDateTime::parse_from_str(&digits, "%Y%m%d%H%M%S")
            .ok()
            .map(|d| d.and_utc()),
    }
}
