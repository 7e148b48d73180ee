//! The config file: where it is found, how it is read, and how its errors are shown.
//!
//! Two layers: [`raw`] holds the TOML exactly as written (strict serde structs, spans kept),
//! [`resolve`] validates it and turns it into [`Config`], whose storages are built into
//! engine handles by [`backends`] only when a command needs them (so `check` and `status`
//! never run a password command or touch a storage).
//!
//! Every error points at the file, line and column, names the key, and shows the line with a
//! caret, cargo style, before anything is touched.

pub mod backends;
pub mod dates;
pub mod interval;
pub mod password;
pub mod raw;
pub mod resolve;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use resolve::{
    Config, DavParams, PairConfig, PasswordSource, StorageConfig, StorageParams, StorageType,
};

/// One or more problems found in the config file; `Display` renders each with its snippet.
#[derive(Debug)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

/// One problem, located in the file when it concerns a value in it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub message: String,
    pub location: Option<Location>,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub line_text: String,
    /// Caret start (0-based, characters) and width on `line_text`.
    pub caret: (usize, usize),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\nerror: ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(loc) = &self.location {
            let num = loc.line.to_string();
            let pad = " ".repeat(num.len());
            write!(
                f,
                "\n{pad}--> {}:{}:{}\n{pad} |\n{num} | {}\n{pad} | {}{}",
                loc.path.display(),
                loc.line,
                loc.column,
                loc.line_text,
                " ".repeat(loc.caret.0),
                "^".repeat(loc.caret.1.max(1)),
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn single(message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![Problem {
                message: message.into(),
                location: None,
            }],
        }
    }
}

/// The text of the config file and where it came from, to turn byte spans into locations.
#[derive(Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Leaves the text out: it may hold a literal password.
impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Source {
    pub fn problem(&self, span: Range<usize>, message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            location: Some(self.locate(span)),
        }
    }

    pub fn locate(&self, span: Range<usize>) -> Location {
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let line_text = self.text[line_start..line_end].trim_end_matches('\r');
        let line = self.text[..start].matches('\n').count() + 1;
        let col = self.text[line_start..start].chars().count();
        // A span starting on a carriage return that ends its line (`\r\r\n`) lies past the
        // trimmed text: the caret then marks that one position.
        let end = span
            .end
            .clamp(start, (line_start + line_text.len()).max(start));
        let width = self.text[start..end].chars().count();
        Location {
            path: self.path.clone(),
            line,
            column: col + 1,
            line_text: line_text.to_owned(),
            caret: (col, width),
        }
    }

    /// The key of the `key = value` line holding the given offset, for errors serde reports
    /// without naming the key (`invalid type: string "yes", expected a boolean`).
    fn key_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line = &self.text[line_start..line_end];
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') || trimmed.starts_with('#') {
            return None;
        }
        let eq = line.find('=')?;
        let key = line[..eq].trim();
        let plain = |c: char| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c);
        (!key.is_empty() && key.chars().all(plain)).then(|| key.to_owned())
    }

    /// The text of the line holding the offset when that line is a `[table]` header.
    fn header_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = self.text[start..end].trim();
        line.starts_with('[').then(|| line.to_owned())
    }

    /// The `[table]` header governing the given offset, for errors serde reports without
    /// naming the table (`unknown field ...`).
    fn table_at(&self, offset: usize) -> Option<String> {
        // Up to the end of the offset's own line: a header names itself.
        let offset = offset.min(self.text.len());
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let before = &self.text[..end];
        before.lines().rev().find_map(|l| {
            let l = l.trim();
            if l.starts_with('[') && !l.starts_with("[[") {
                let end = l.find(']')?;
                Some(l[1..end].trim().to_owned())
            } else {
                None
            }
        })
    }
}

/// A `[name]` or `[a.b]` header line, closed once, with nothing after it but a comment.
fn well_formed_header(line: &str) -> bool {
    let line = line.split(" #").next().unwrap_or(line).trim();
    line.starts_with('[')
        && line.ends_with(']')
        && line.matches('[').count() == 1
        && line.matches(']').count() == 1
}

/// Where the config file is, per the documented lookup order: `--config`, `$DAVSYNC_CONFIG`,
/// `$XDG_CONFIG_HOME/davsync/config.toml`, `~/.config/davsync/config.toml`.
pub fn locate(cli: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = cli {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os("DAVSYNC_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut tried = Vec::new();
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(x).join("davsync").join("config.toml");
        if p.exists() {
            return Ok(p);
        }
        tried.push(p);
    }
    if let Some(home) = dirs::home_dir() {
        let p = home.join(".config").join("davsync").join("config.toml");
        if p.exists() {
            return Ok(p);
        }
        tried.push(p);
    }
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(ConfigError::single(format!(
        "no config file found (looked at {}); pass one with --config or $DAVSYNC_CONFIG",
        if tried.is_empty() {
            "nothing: neither $XDG_CONFIG_HOME nor a home directory is set".to_owned()
        } else {
            tried.join(", ")
        }
    )))
}

/// Reads, parses and validates the config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::single(format!("cannot read config file {}: {e}", path.display()))
    })?;
    parse(path, text)
}

/// Parses and validates config text as if read from `path` (relative paths inside are
/// resolved against `path`'s directory).
pub fn parse(path: &Path, text: String) -> Result<Config, ConfigError> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let source = Source { path, text };
    let raw: raw::RawConfig = match toml::from_str(&source.text) {
        Ok(raw) => raw,
        Err(_) if crate::migrate::ini::looks_like_vdirsyncer(&source.text) => {
            return Err(ConfigError::single(format!(
                "{} is a vdirsyncer config ([pair NAME] and [storage NAME] sections), not a \
                 davsync one; convert it with `davsync import-vdirsyncer --from {}`",
                source.path.display(),
                source.path.display()
            )));
        }
        Err(e) => {
            let message = e.message().trim_end().to_owned();
            let problem = match e.span() {
                Some(span) => {
                    let header = source
                        .header_at(span.start)
                        .filter(|h| message.contains("table header") || !well_formed_header(h));
                    let message = match (source.table_at(span.start), source.key_at(span.start)) {
                        // A broken header names itself as written: the previous table is
                        // not where the problem is.
                        _ if header.is_some() => {
                            format!("table header {}: {message}", header.unwrap_or_default())
                        }
                        (Some(table), Some(key)) => format!("{table}.{key}: {message}"),
                        (Some(table), None) => format!("[{table}]: {message}"),
                        (None, Some(key)) => format!("{key}: {message}"),
                        (None, None) => message,
                    };
                    source.problem(span, message)
                }
                None => Problem {
                    message: format!("{}: {message}", source.path.display()),
                    location: None,
                },
            };
            return Err(ConfigError {
                problems: vec![problem],
            });
        }
    };
    resolve::resolve(&source, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            path: PathBuf::from("/etc/davsync.toml"),
            text: text.to_owned(),
        }
    }

    #[test]
    fn location_counts_columns_in_characters() {
        let s = source("[a]\nname = \"ünï\" # x\n");
        let start = s.text.find("\"ünï\"").unwrap();
        let loc = s.locate(start..start + "\"ünï\"".len());
        assert_eq!((loc.line, loc.column), (2, 8));
        assert_eq!(loc.line_text, "name = \"ünï\" # x");
        assert_eq!(loc.caret, (7, 5));
    }

    #[test]
    fn problem_renders_cargo_style() {
        let s = source("[storage.a]\nread_onyl = true\n");
        let p = s.problem(12..21, "unknown field `read_onyl`");
        assert_eq!(
            p.to_string(),
            "unknown field `read_onyl`\n --> /etc/davsync.toml:2:1\n  |\n2 | read_onyl = true\n  | ^^^^^^^^^"
        );
    }

    #[test]
    fn caret_is_cut_at_the_end_of_the_line() {
        let s = source("a = [\n  1,\n]\n");
        let loc = s.locate(4..s.text.len());
        assert_eq!(loc.line_text, "a = [");
        assert_eq!(loc.caret, (4, 1));
    }

    #[test]
    fn table_of_an_offset_is_the_last_header_before_it() {
        let s = source("[general]\nx = 1\n[storage.cal]\ny = 2\n");
        assert_eq!(
            s.table_at(s.text.find("y").unwrap()).as_deref(),
            Some("storage.cal")
        );
        assert_eq!(
            s.table_at(s.text.find("x").unwrap()).as_deref(),
            Some("general")
        );
    }

    #[test]
    fn a_broken_table_header_is_named_as_written_not_the_table_before_it() {
        let text = "[storage.a]\ntype = \"vdir\"\n\n[storage.b\ntype = \"vdir\"\n";
        let err = parse(Path::new("/c.toml"), text.to_owned()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "table header [storage.b: invalid table header\nexpected `.`, `]`\n --> /c.toml:4:11\n  |\n4 | [storage.b\n  |           ^"
        );
    }

    #[test]
    fn crlf_config_files_are_located_without_the_carriage_return() {
        let s = source("[a]\r\nbad = 1\r\n");
        let loc = s.locate(5..8);
        assert_eq!(loc.line_text, "bad = 1");
        assert_eq!((loc.line, loc.column), (2, 1));
    }
}
