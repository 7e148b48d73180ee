//! vdirsyncer's `start_date`/`end_date` are Python expressions it `eval`s with the
//! `datetime` module's names in scope. The common forms are evaluated here statically into
//! davsync's date syntax; anything else is left to the user (reported, never guessed).
//!
//! Understood: `datetime.now()`, `datetime.today()`, `date.today()`, each optionally
//! `+`/`-` a `timedelta(...)` of whole days or weeks (`timedelta(30)`,
//! `timedelta(days=30)`, `timedelta(weeks=2)`), giving `-30d`-style offsets; and literal
//! `datetime(Y, M, D[, h, m, s])` / `date(Y, M, D)`, giving ISO dates or datetimes.

/// The davsync spelling of a vdirsyncer date expression, or `None` when it is not one of the
/// understood forms.
pub fn convert(expr: &str) -> Option<String> {
    let e: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let e = e
        .strip_prefix("datetime.")
        .filter(|r| {
            r.starts_with("datetime") || r.starts_with("date(") || r.starts_with("timedelta")
        })
        .unwrap_or(&e)
        .to_owned();
    for now in ["datetime.now()", "datetime.today()", "date.today()"] {
        if let Some(rest) = e.strip_prefix(now) {
            if rest.is_empty() {
                return Some("+0d".into());
            }
            let (sign, delta) = match rest.as_bytes()[0] {
                b'+' => ('+', &rest[1..]),
                b'-' => ('-', &rest[1..]),
                _ => return None,
            };
            let days = timedelta_days(delta.strip_prefix("datetime.").unwrap_or(delta))?;
            return Some(format!("{sign}{days}d"));
        }
    }
    if let Some(args) = call_args(&e, "datetime") {
        let n = ints(args)?;
        if !(3..=6).contains(&n.len()) {
            return None;
        }
        let mut parts = n.clone();
        parts.resize(6, 0);
        let dt =
            chrono::NaiveDate::from_ymd_opt(parts[0] as i32, parts[1] as u32, parts[2] as u32)?
                .and_hms_opt(parts[3] as u32, parts[4] as u32, parts[5] as u32)?;
        return Some(if n.len() == 3 {
            dt.format("%Y-%m-%d").to_string()
        } else {
            dt.format("%Y-%m-%dT%H:%M:%S").to_string()
        });
    }
    if let Some(args) = call_args(&e, "date") {
        let n = ints(args)?;
        let [y, m, d] = n[..] else { return None };
        let date = chrono::NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32)?;
        return Some(date.format("%Y-%m-%d").to_string());
    }
    None
}

/// The argument text of `name(...)` when `e` is exactly that call.
fn call_args<'e>(e: &'e str, name: &str) -> Option<&'e str> {
    e.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

fn ints(args: &str) -> Option<Vec<i64>> {
    args.split(',')
        .filter(|a| !a.is_empty())
        .map(|a| a.parse().ok())
        .collect()
}

/// Whole days of a `timedelta(...)` call with only days and weeks.
fn timedelta_days(e: &str) -> Option<i64> {
    let args = call_args(e, "timedelta")?;
    let mut days = 0i64;
    for (i, arg) in args.split(',').filter(|a| !a.is_empty()).enumerate() {
        match arg.split_once('=') {
            None if i == 0 => days += arg.parse::<i64>().ok()?,
            Some(("days", v)) => days += v.parse::<i64>().ok()?,
            Some(("weeks", v)) => days += 7 * v.parse::<i64>().ok()?,
            _ => return None,
        }
    }
    Some(days)
}

#[cfg(test)]
mod tests {
    use super::convert;

    #[test]
    fn relative_expressions_become_day_offsets() {
        assert_eq!(
            convert("datetime.now() - timedelta(days=365)").as_deref(),
            Some("-365d")
        );
        assert_eq!(
            convert("datetime.now() + timedelta(weeks=2)").as_deref(),
            Some("+14d")
        );
        assert_eq!(
            convert("date.today()-timedelta(30)").as_deref(),
            Some("-30d")
        );
        assert_eq!(convert("datetime.now()").as_deref(), Some("+0d"));
    }

    #[test]
    fn literal_dates_become_iso() {
        assert_eq!(
            convert("datetime(2024, 1, 31)").as_deref(),
            Some("2024-01-31")
        );
        assert_eq!(
            convert("datetime(2024, 1, 31, 8, 30)").as_deref(),
            Some("2024-01-31T08:30:00")
        );
        assert_eq!(convert("date(2025,12,1)").as_deref(), Some("2025-12-01"));
    }

    #[test]
    fn anything_else_is_not_guessed() {
        assert_eq!(convert("datetime.now() - timedelta(hours=5)"), None);
        assert_eq!(convert("datetime(2024, 2, 30)"), None);
        assert_eq!(convert("__import__('os').system('x')"), None);
        assert_eq!(convert("datetime.now() * 2"), None);
    }
}
