//! `interval`: how often `watch` checks a storage for changes, in whole seconds.
//!
//! Remote storages are polled every `interval`; local ones are watched by file-system
//! notification and re-listed every `interval` only as a safety net for notifications the
//! file system never sends (network mounts). The minimum keeps a forgotten small value from
//! turning `watch` into a load generator against a server.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

pub const DEFAULT_SECS: u64 = 300;
pub const MIN_SECS: u64 = 10;
pub const DEFAULT: Duration = Duration::from_secs(DEFAULT_SECS);

/// The configured interval, or the span and message of why it is refused.
pub fn resolve(
    value: Option<&Spanned<i64>>,
    key: &str,
) -> Result<Duration, (Range<usize>, String)> {
    let Some(v) = value else {
        return Ok(DEFAULT);
    };
    match u64::try_from(*v.get_ref()) {
        Ok(secs) if secs >= MIN_SECS => Ok(Duration::from_secs(secs)),
        _ => Err((
            v.span(),
            format!(
                "{key}: expected a whole number of seconds, at least {MIN_SECS} (default \
                 {DEFAULT_SECS}), not {}",
                v.get_ref()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(extra: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        crate::config::parse(
            Path::new("/etc/davsync.toml"),
            format!(
                "[storage.r]\ntype = \"caldav\"\nurl = \"https://x.example/\"\n{extra}\n\
                 [storage.l]\ntype = \"vdir\"\npath = \"/abs\"\n\
                 [pair.p]\na = \"l\"\nb = \"r\"\n"
            ),
        )
    }

    #[test]
    fn interval_defaults_to_300_seconds_on_every_storage() {
        let c = parse("").unwrap();
        assert_eq!(c.storages["r"].interval, Duration::from_secs(300));
        assert_eq!(c.storages["l"].interval, Duration::from_secs(300));
    }

    #[test]
    fn interval_takes_whole_seconds_from_ten_up() {
        let c = parse("interval = 10").unwrap();
        assert_eq!(c.storages["r"].interval, Duration::from_secs(10));
    }

    #[test]
    fn interval_below_ten_seconds_is_refused_with_its_location() {
        let err = parse("interval = 5").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "storage.r.interval: expected a whole number of seconds, at least 10 (default 300), not 5"
            ),
            "{err}"
        );
        assert!(err.contains("--> /etc/davsync.toml:4:12"), "{err}");
        assert!(err.contains("4 | interval = 5\n  |            ^"), "{err}");
    }

    #[test]
    fn interval_that_is_not_a_whole_number_names_the_key() {
        let err = parse("interval = \"60\"").unwrap_err().to_string();
        assert!(err.contains("interval"), "{err}");
        assert!(err.contains("/etc/davsync.toml:4:"), "{err}");
        let err = parse("interval = -20").unwrap_err().to_string();
        assert!(err.contains("at least 10"), "{err}");
    }
}
