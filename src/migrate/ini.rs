//! vdirsyncer's config format: Python `configparser` INI sections (`[general]`,
//! `[pair NAME]`, `[storage NAME]`) whose values are JSON (`"text"`, `true`, `null`, lists).
//!
//! The rules followed are those of `configparser.RawConfigParser` as vdirsyncer uses it:
//! `#` and `;` start a comment line (never an inline comment); `key = value` or
//! `key: value`, split at the first `=` or `:`; keys are lower-cased; a line indented deeper
//! than its key continues the value (how multi-line JSON lists are written); a duplicate
//! section or key is an error. Each value is then decoded as JSON, as vdirsyncer does.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A parsed vdirsyncer config, sections in file order.
#[derive(Debug, Clone)]
pub struct VConfig {
    pub path: PathBuf,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone)]
pub struct Section {
    /// `general`, `pair` or `storage` (or whatever else the file holds, reported later).
    pub kind: String,
    /// The name after the kind; empty for `[general]`.
    pub name: String,
    /// 1-based line of the header.
    pub line: usize,
    pub options: Vec<Opt>,
}

#[derive(Debug, Clone)]
pub struct Opt {
    pub key: String,
    pub value: Value,
    /// 1-based line of the key.
    pub line: usize,
}

impl Section {
    /// The header as written in vdirsyncer's file, `storage cal` or `general`: how messages
    /// name the section.
    pub fn header(&self) -> String {
        if self.name.is_empty() {
            self.kind.clone()
        } else {
            format!("{} {}", self.kind, self.name)
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.options.iter().find(|o| o.key == key).map(|o| &o.value)
    }
}

impl VConfig {
    pub fn sections_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.kind == kind)
    }

    pub fn storage(&self, name: &str) -> Option<&Section> {
        self.sections_of("storage").find(|s| s.name == name)
    }

    pub fn general(&self) -> Option<&Section> {
        self.sections_of("general").next()
    }
}

/// A syntax error, with the file and line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// One option while its continuation lines are being gathered.
struct Pending {
    key: String,
    text: String,
    line: usize,
    indent: usize,
}

/// Parses vdirsyncer config text as read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<VConfig, ParseError> {
    let err = |line: usize, message: String| ParseError {
        path: path.to_owned(),
        line,
        message,
    };
    let mut sections: Vec<Section> = Vec::new();
    let mut pending: Option<Pending> = None;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);

    fn flush(
        pending: &mut Option<Pending>,
        sections: &mut [Section],
        path: &Path,
    ) -> Result<(), ParseError> {
        let Some(p) = pending.take() else {
            return Ok(());
        };
        let section = sections.last_mut().expect("options only inside a section");
        let raw = p.text.trim_end();
        let value: Value = serde_json::from_str(raw).map_err(|e| ParseError {
            path: path.to_owned(),
            line: p.line,
            message: format!(
                "[{}] {}: the value {raw:?} is not valid JSON ({e}); vdirsyncer values are \
                 JSON: strings in double quotes, true/false, null, [lists]",
                section.header(),
                p.key
            ),
        })?;
        section.options.push(Opt {
            key: p.key,
            value,
            line: p.line,
        });
        Ok(())
    }

    for (i, raw_line) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw_line.trim_end_matches('\r');
        let stripped = line.trim();
        let indent = line.len() - line.trim_start().len();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        if stripped.is_empty() {
            if let Some(p) = pending.as_mut() {
                p.text.push('\n');
            }
            continue;
        }
        if let Some(p) = pending.as_mut() {
            if indent > p.indent {
                p.text.push('\n');
                p.text.push_str(stripped);
                continue;
            }
        }
        flush(&mut pending, &mut sections, path)?;
        if stripped.starts_with('[') && stripped.ends_with(']') && stripped.len() > 2 {
            let header = &stripped[1..stripped.len() - 1];
            let (kind, name) = match header.split_once(' ') {
                Some((k, n)) => (k.to_owned(), n.to_owned()),
                None => (header.to_owned(), String::new()),
            };
            if sections.iter().any(|s| s.kind == kind && s.name == name) {
                return Err(err(lineno, format!("section [{header}] appears twice")));
            }
            if kind == "DEFAULT" {
                return Err(err(
                    lineno,
                    "a [DEFAULT] section is not part of vdirsyncer's config format".into(),
                ));
            }
            sections.push(Section {
                kind,
                name,
                line: lineno,
                options: Vec::new(),
            });
            continue;
        }
        if sections.is_empty() {
            return Err(err(
                lineno,
                format!("{stripped:?} comes before the first [section] header"),
            ));
        }
        let Some(at) = line.find(['=', ':']) else {
            return Err(err(
                lineno,
                format!("expected `key = value` or a [section] header, found {stripped:?}"),
            ));
        };
        let key = line[..at].trim().to_lowercase();
        if key.is_empty() {
            return Err(err(lineno, "a value without a key".into()));
        }
        let section = sections.last().expect("checked above");
        if section.options.iter().any(|o| o.key == key) {
            return Err(err(
                lineno,
                format!("[{}] {key} is set twice", section.header()),
            ));
        }
        pending = Some(Pending {
            key,
            text: line[at + 1..].trim().to_owned(),
            line: lineno,
            indent,
        });
    }
    flush(&mut pending, &mut sections, path)?;
    Ok(VConfig {
        path: path.to_owned(),
        sections,
    })
}

/// True when `text` looks like a vdirsyncer config rather than a davsync one: an INI header
/// `[pair NAME]` or `[storage NAME]` (TOML table names cannot hold a bare space).
pub fn looks_like_vdirsyncer(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim();
        t.starts_with('[')
            && t.ends_with(']')
            && (t.starts_with("[pair ") || t.starts_with("[storage "))
            && !t[1..t.len() - 1].contains(['"', '\''])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> VConfig {
        parse(Path::new("/home/u/.vdirsyncer/config"), text).unwrap()
    }

    #[test]
    fn sections_keys_and_json_values_are_read_as_vdirsyncer_reads_them() {
        let c = p(r#"
# comment
[general]
status_path = "~/.vdirsyncer/status/"

[pair my_cals]
a = "cal_local"
b = "cal_remote"
collections = ["from a", "from b"]
Metadata: ["color"]
conflict_resolution = null

; other comment
[storage cal_remote]
type = "caldav"
read_only = true
password.fetch = ["command", "pass", "show dav"]
"#);
        assert_eq!(c.sections.len(), 3);
        let pair = &c.sections[1];
        assert_eq!(
            (pair.kind.as_str(), pair.name.as_str()),
            ("pair", "my_cals")
        );
        assert_eq!(pair.get("collections"), Some(&json!(["from a", "from b"])));
        assert_eq!(pair.get("metadata"), Some(&json!(["color"])));
        assert_eq!(pair.get("conflict_resolution"), Some(&Value::Null));
        let st = c.storage("cal_remote").unwrap();
        assert_eq!(st.get("read_only"), Some(&json!(true)));
        assert_eq!(
            st.get("password.fetch"),
            Some(&json!(["command", "pass", "show dav"]))
        );
        assert_eq!(st.options[1].line, 16);
    }

    #[test]
    fn indented_lines_continue_a_multi_line_list() {
        let c = p("[pair p]\ncollections = [\n    \"a\",\n\n    \"b\"\n  ]\nb = \"x\"\n");
        assert_eq!(c.sections[0].get("collections"), Some(&json!(["a", "b"])));
        assert_eq!(c.sections[0].get("b"), Some(&json!("x")));
    }

    #[test]
    fn a_value_that_is_not_json_is_an_error_naming_section_key_and_line() {
        let e = parse(Path::new("/c"), "[storage s]\ntype = filesystem\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string()
                .starts_with("/c:2: [storage s] type: the value \"filesystem\" is not valid JSON"),
            "{e}"
        );
    }

    #[test]
    fn duplicates_and_stray_lines_are_errors() {
        let dup = parse(Path::new("/c"), "[pair p]\na = \"x\"\nA = \"y\"\n").unwrap_err();
        assert_eq!(dup.to_string(), "/c:3: [pair p] a is set twice");
        let stray = parse(Path::new("/c"), "a = \"x\"\n").unwrap_err();
        assert_eq!(stray.line, 1);
        let sec = parse(Path::new("/c"), "[pair p]\n[pair p]\n").unwrap_err();
        assert_eq!(sec.to_string(), "/c:2: section [pair p] appears twice");
    }

    #[test]
    fn vdirsyncer_headers_are_told_apart_from_toml_tables() {
        assert!(looks_like_vdirsyncer("[general]\n[pair cals]\na = \"x\"\n"));
        assert!(looks_like_vdirsyncer("[storage x]\n"));
        assert!(!looks_like_vdirsyncer("[pair.cals]\n[storage.x]\n"));
        assert!(!looks_like_vdirsyncer("[pair.\"my cals\"]\n"));
    }
}
