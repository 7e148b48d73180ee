//! stderr: logs, failures and the summary, as text for people or as one JSON object per line
//! (`--log-format json`) for scripts and log collectors.
//!
//! In JSON every line is an object with `level` and `message`, then the structured fields of
//! the event and of the spans around it, flattened to the top level (the engine puts `pair`
//! and `collection` on spans and `uid`, `action`, `outcome`, `duration_ms` on events). The
//! innermost value wins when a span and the event both set a field. Lines printed outside
//! `tracing` (failures, the summary) go through [`error_line`] and [`info_line`], so stderr
//! never mixes the two formats.
//!
//! Colour: only when stderr is a terminal and `NO_COLOR` is not set (any value, as
//! interface.md says: "never when `NO_COLOR` is set").

use std::fmt;
use std::io::Write as _;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::LogFormat;

static FORMAT: OnceLock<LogFormat> = OnceLock::new();
static COLOR: OnceLock<bool> = OnceLock::new();

/// True when stderr gets JSON lines.
pub fn json() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// True when stderr may carry colour.
pub fn color() -> bool {
    COLOR.get().copied().unwrap_or(false)
}

/// The colour decision: a terminal, and no `NO_COLOR` in the environment.
pub fn use_color(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none()
}

/// Logs go to stderr: warnings by default, `-v` info, `-vv` debug (each HTTP request),
/// `-vvv` trace, `-q` errors only. Only davsync's own crates get past `warn`, so no
/// dependency's debug output (headers included) can reach the terminal.
pub fn init(verbose: u8, quiet: bool, format: LogFormat) {
    let _ = FORMAT.set(format);
    let colored = use_color(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    ) && format == LogFormat::Text;
    let _ = COLOR.set(colored);
    let ours = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let base = if quiet { "error" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "{base},davsync={ours},davsync_storages={ours}"
    ));
    let _ = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .with_ansi(colored)
            .with_target(verbose >= 2)
            .without_time()
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLine)
            .try_init(),
    };
}

/// Prints a failure on stderr: `error: <message>`, or its JSON line.
pub fn error_line(message: &str) {
    let mut err = std::io::stderr().lock();
    if json() {
        let _ = writeln!(err, "{}", json_line("ERROR", message, Map::new()));
    } else if color() {
        let _ = writeln!(err, "\x1b[31merror\x1b[0m: {message}");
    } else {
        let _ = writeln!(err, "error: {message}");
    }
}

/// Prints a warning on stderr: as it is, or as a JSON line.
pub fn warn_line(message: &str) {
    let mut err = std::io::stderr().lock();
    if json() {
        let _ = writeln!(err, "{}", json_line("WARN", message, Map::new()));
    } else {
        let _ = writeln!(err, "{message}");
    }
}

/// Prints an informational line (the summary) on stderr, as it is or as a JSON line with
/// `fields`.
pub fn info_line(message: &str, fields: Map<String, Value>) {
    let mut err = std::io::stderr().lock();
    if json() {
        let _ = writeln!(err, "{}", json_line("INFO", message, fields));
    } else {
        let _ = writeln!(err, "{message}");
    }
}

/// The documented fields, in the order every line puts them (after `level` and `message`).
const KNOWN_FIELDS: [&str; 6] = [
    "pair",
    "collection",
    "uid",
    "action",
    "outcome",
    "duration_ms",
];

/// One JSON line: `level`, `message`, the documented fields present, then any others in
/// their order.
pub fn json_line(level: &str, message: &str, mut fields: Map<String, Value>) -> String {
    let mut obj = Map::new();
    obj.insert("level".into(), Value::String(level.to_owned()));
    obj.insert("message".into(), Value::String(message.to_owned()));
    for k in KNOWN_FIELDS {
        if let Some(v) = fields.shift_remove(k) {
            obj.insert(k.to_owned(), v);
        }
    }
    for (k, v) in fields {
        if k != "level" && k != "message" {
            obj.insert(k, v);
        }
    }
    Value::Object(obj).to_string()
}

/// The JSON event format (see the module docs).
struct JsonLine;

/// Collects an event's fields as JSON values, numbers and booleans kept as such.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    map: Map<String, Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.map.insert(field.name().to_owned(), value);
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut all = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(recorded) = ext.get::<FormattedFields<N>>() {
                    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(recorded) {
                        all.extend(map);
                    }
                }
            }
        }
        all.extend(fields.map);
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        writeln!(
            writer,
            "{}",
            json_line(level, fields.message.as_deref().unwrap_or_default(), all)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(use_color(true, None));
        assert!(!use_color(false, None));
        assert!(!use_color(true, Some(std::ffi::OsStr::new("1"))));
        assert!(!use_color(true, Some(std::ffi::OsStr::new(""))));
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_level_message_and_span_and_event_fields_flat() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLine)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("sync", pair = "cals", collection = "work");
            let _g = span.enter();
            tracing::warn!(
                uid = "abc@x",
                action = "upload",
                outcome = "failed",
                duration_ms = 12u64,
                "writing \"it\" failed"
            );
            tracing::error!(collection = "home", "plain");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            out,
            "{\"level\":\"WARN\",\"message\":\"writing \\\"it\\\" failed\",\"pair\":\"cals\",\
             \"collection\":\"work\",\"uid\":\"abc@x\",\"action\":\"upload\",\
             \"outcome\":\"failed\",\"duration_ms\":12}\n\
             {\"level\":\"ERROR\",\"message\":\"plain\",\"pair\":\"cals\",\
             \"collection\":\"home\"}\n"
        );
    }

    #[test]
    fn printed_lines_have_the_same_shape() {
        let mut f = Map::new();
        f.insert("uploaded".into(), Value::from(3));
        assert_eq!(
            json_line("INFO", "Synced 1 pairs", f),
            "{\"level\":\"INFO\",\"message\":\"Synced 1 pairs\",\"uploaded\":3}"
        );
    }
}
