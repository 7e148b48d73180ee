//! The conversion table: vdirsyncer's sections and keys to davsync's TOML.
//!
//! The TOML is written as text (not serialized from structs) so that every key or value that
//! has no davsync equivalent stays in the file as a comment next to where it belonged, and
//! the file reads like one written by hand. Each such key is also returned as a [`LeftOut`],
//! which the command prints.

use std::fmt::Write as _;

use serde_json::Value;

use super::ini::{Opt, Section, VConfig};
use super::pydate;

/// A key (or a whole section, `key` empty) that was not converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The vdirsyncer header, `storage cal` or `pair cals`.
    pub section: String,
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "[{}]: not converted: {}", self.section, self.reason)
        } else {
            write!(
                f,
                "[{}] {}: not converted: {}",
                self.section, self.key, self.reason
            )
        }
    }
}

/// The converted config.
#[derive(Debug, Clone)]
pub struct Converted {
    pub toml: String,
    pub left_out: Vec<LeftOut>,
}

/// The davsync storage type of a vdirsyncer one.
pub fn storage_type(vtype: &str) -> Option<&'static str> {
    match vtype {
        "filesystem" => Some("vdir"),
        "singlefile" => Some("singlefile"),
        "caldav" => Some("caldav"),
        "carddav" => Some("carddav"),
        "http" => Some("http"),
        _ => None,
    }
}

/// A section name as a TOML key: bare when TOML allows it (`my_cals`), quoted otherwise, so
/// that `[storage my.cal]` becomes `[storage."my.cal"]`, one table named as in vdirsyncer,
/// not a table `cal` inside a table `my`.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        return name.to_owned();
    }
    // A basic string: a key may not be one of the multi-line forms `toml_str` may choose.
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML value written inline.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_strs(v: &[String]) -> String {
    toml::Value::Array(v.iter().cloned().map(toml::Value::String).collect()).to_string()
}

/// Text for a TOML comment, which may not hold control characters other than tab: a key
/// such as `a\u{1}b` in vdirsyncer's file, or a DEL inside a JSON string, is shown escaped
/// (and a line break, which would end the comment, too).
fn plain(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The value as it was written in vdirsyncer's file, for comments and messages; passwords
/// are never repeated.
fn shown(key: &str, value: &Value) -> String {
    if key.contains("password") && value.is_string() {
        "\"…\"".to_owned()
    } else {
        value.to_string()
    }
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_owned))
        .collect()
}

struct Out<'a> {
    text: String,
    left_out: &'a mut Vec<LeftOut>,
    section: String,
}

impl Out<'_> {
    fn set(&mut self, key: &str, value: String) {
        let _ = writeln!(self.text, "{key} = {value}");
    }

    fn leave(&mut self, opt: &Opt, reason: impl Into<String>) {
        let reason = reason.into();
        let _ = writeln!(
            self.text,
            "# not converted: {} = {}  ({reason})",
            plain(&opt.key),
            plain(&shown(&opt.key, &opt.value))
        );
        self.left_out.push(LeftOut {
            section: self.section.clone(),
            key: opt.key.clone(),
            reason,
        });
    }
}

/// Converts a parsed vdirsyncer config.
pub fn convert(config: &VConfig) -> Converted {
    let mut left_out = Vec::new();
    let mut text = format!(
        "# davsync config, converted by `davsync import-vdirsyncer` from vdirsyncer's\n# {}\n",
        plain(&config.path.display().to_string())
    );
    let unusable: Vec<String> = config
        .sections_of("storage")
        .filter(|s| {
            s.get("type")
                .and_then(Value::as_str)
                .and_then(storage_type)
                .is_none()
        })
        .map(|s| s.name.clone())
        .collect();
    let mut general_seen = false;
    for section in &config.sections {
        let mut out = Out {
            text: String::new(),
            left_out: &mut left_out,
            section: section.header(),
        };
        match section.kind.as_str() {
            // vdirsyncer refuses a second one; TOML cannot hold two `[general]` tables.
            "general" if general_seen => {
                out.left_out.push(LeftOut {
                    section: section.header(),
                    key: String::new(),
                    reason: "a second [general] section (vdirsyncer refuses it)".into(),
                });
                let _ = writeln!(
                    out.text,
                    "# not converted: a second general section [{}]",
                    plain(&section.header())
                );
            }
            "general" => {
                general_seen = true;
                general(section, &mut out)
            }
            "storage" => storage(section, &mut out),
            "pair" => pair(section, &unusable, &mut out),
            _ => {
                out.left_out.push(LeftOut {
                    section: section.header(),
                    key: String::new(),
                    reason: "vdirsyncer only knows [general], [pair NAME] and [storage NAME] \
                             sections"
                        .into(),
                });
                let _ = writeln!(
                    out.text,
                    "# not converted: section [{}]",
                    plain(&section.header())
                );
            }
        }
        text.push('\n');
        text.push_str(&out.text);
    }
    Converted {
        toml: text,
        left_out,
    }
}

fn general(section: &Section, out: &mut Out<'_>) {
    out.text.push_str("[general]\n");
    for opt in &section.options {
        match opt.key.as_str() {
            "status_path" => {
                let _ = writeln!(
                    out.text,
                    "# vdirsyncer's status_path = {} was imported into davsync's own status \
                     (status_path, default ~/.local/share/davsync/status)",
                    plain(&opt.value.to_string())
                );
            }
            _ => out.leave(opt, "not a vdirsyncer [general] key"),
        }
    }
}

fn storage(section: &Section, out: &mut Out<'_>) {
    let vtype = section.get("type").and_then(Value::as_str).unwrap_or("");
    let Some(ty) = storage_type(vtype) else {
        let reason = if vtype.is_empty() {
            "the storage has no `type`".to_owned()
        } else {
            format!(
                "davsync has no storage of type {vtype:?} (it has filesystem/vdir, \
                 singlefile, caldav, carddav, http); the pairs using it are left out too"
            )
        };
        out.left_out.push(LeftOut {
            section: section.header(),
            key: "type".into(),
            reason: reason.clone(),
        });
        let _ = writeln!(out.text, "# not converted ({reason}):");
        let _ = writeln!(out.text, "# [storage.{}]", toml_key(&section.name));
        for opt in &section.options {
            let _ = writeln!(
                out.text,
                "# {} = {}",
                plain(&opt.key),
                plain(&shown(&opt.key, &opt.value))
            );
        }
        return;
    };
    let _ = writeln!(out.text, "[storage.{}]", toml_key(&section.name));
    out.set("type", toml_str(ty));
    let local = matches!(ty, "vdir" | "singlefile");
    let mut password_set = false;
    for opt in &section.options {
        let key = opt.key.as_str();
        let v = &opt.value;
        match (key, v) {
            ("type", _) => {}
            ("instance_name", _) => {}
            ("path", Value::String(s)) if local => out.set("path", toml_str(s)),
            ("fileext", Value::String(s)) if ty == "vdir" => out.set("fileext", toml_str(s)),
            ("encoding", Value::String(s))
                if local && matches!(s.to_lowercase().as_str(), "utf-8" | "utf8") =>
            {
                let _ = writeln!(out.text, "# encoding = {v}: davsync always uses UTF-8");
            }
            ("encoding", _) if local => out.leave(opt, "davsync reads and writes UTF-8 only"),
            ("fileignoreext", Value::String(s)) if ty == "vdir" && s == ".tmp" => {
                let _ = writeln!(
                    out.text,
                    "# fileignoreext = \".tmp\": davsync writes hidden temporary files and \
                     ignores every file not ending in fileext"
                );
            }
            ("post_hook", Value::String(s)) if ty == "vdir" => {
                out.set("post_hook", toml_strs(std::slice::from_ref(s)))
            }
            ("post_hook", Value::Null) if ty == "vdir" => {}
            ("url", Value::String(s)) if !local => out.set("url", toml_str(s)),
            ("username", Value::String(s)) if !local => out.set("username", toml_str(s)),
            // vdirsyncer refuses both at once; davsync's TOML cannot hold both (`password`
            // would be a string and a table): the first one written wins.
            ("password" | "password.fetch", _) if !local && password_set => out.leave(
                opt,
                "password and password.fetch are both set (vdirsyncer refuses that); the \
                 first one is kept",
            ),
            ("password", Value::String(s)) if !local => {
                out.set("password", toml_str(s));
                password_set = true;
            }
            ("password.fetch", _) if !local => password_set = password_fetch(opt, out),
            ("auth", Value::String(s))
                if !local && matches!(s.as_str(), "basic" | "digest" | "guess") =>
            {
                out.set("auth", toml_str(s))
            }
            ("auth", Value::Null) | ("useragent", Value::Null) => {}
            ("verify", Value::Bool(b)) if !local => out.set("verify", b.to_string()),
            ("verify", Value::String(s)) if !local => out.set("verify", toml_str(s)),
            ("verify_fingerprint", Value::String(s)) if !local => {
                let hex: String = s
                    .trim_start_matches("sha256:")
                    .chars()
                    .filter(|c| *c != ':')
                    .collect();
                if hex.len() == 64 {
                    out.set("verify_fingerprint", toml_str(s));
                } else {
                    out.leave(
                        opt,
                        "davsync pins SHA-256 fingerprints only; put the certificate's \
                         SHA-256 fingerprint here",
                    );
                }
            }
            ("auth_cert", Value::String(s)) if !local => out.set("client_cert", toml_str(s)),
            ("auth_cert", Value::Array(_)) if !local => out.leave(
                opt,
                "davsync's client_cert is one PEM file holding both certificate and key",
            ),
            ("start_date" | "end_date", Value::String(s)) if ty == "caldav" => {
                match pydate::convert(s) {
                    Some(d) => out.set(key, toml_str(&d)),
                    None => out.leave(
                        opt,
                        "a Python expression davsync cannot evaluate; write an ISO date or \
                         a day offset such as \"-30d\"",
                    ),
                }
            }
            ("start_date" | "end_date", Value::Null) => {}
            ("item_types", Value::Array(_)) if ty == "caldav" => match strings(v) {
                Some(list) => out.set("item_types", toml_strs(&list)),
                None => out.leave(opt, "expected a list of component names"),
            },
            ("read_only", Value::Bool(b)) => {
                if ty == "http" && !*b {
                    out.leave(opt, "an http storage is always read-only");
                } else {
                    out.set("read_only", b.to_string());
                }
            }
            ("useragent", _) => out.leave(opt, "davsync sends its own User-Agent"),
            ("username.fetch", _) => out.leave(
                opt,
                "davsync takes a literal username; fetch only the password",
            ),
            ("pre_deletion_hook", _) => out.leave(opt, "davsync has no pre-deletion hook"),
            _ => out.leave(opt, format!("not a key davsync's {ty} storage understands")),
        }
    }
}

/// Converts `password.fetch`; true when it became a `password.command`.
fn password_fetch(opt: &Opt, out: &mut Out<'_>) -> bool {
    let list = strings(&opt.value).unwrap_or_default();
    match list.split_first() {
        Some((strategy, cmd)) if strategy == "command" && !cmd.is_empty() => {
            out.set("password.command", toml_strs(cmd))
        }
        Some((strategy, cmd)) if strategy == "shell" && cmd.len() == 1 => out.set(
            "password.command",
            toml_strs(&["sh".into(), "-c".into(), cmd[0].clone()]),
        ),
        Some((strategy, _)) if strategy == "prompt" => {
            out.leave(
                opt,
                "davsync does not prompt; use password.command, password.env or password.keyring",
            );
            return false;
        }
        _ => {
            out.leave(opt, "expected [\"command\", PROGRAM, ARGS...]");
            return false;
        }
    }
    true
}

fn pair(section: &Section, unusable: &[String], out: &mut Out<'_>) {
    let uses_unusable: Vec<&str> = ["a", "b"]
        .iter()
        .filter_map(|k| section.get(k).and_then(Value::as_str))
        .filter(|s| unusable.iter().any(|u| u == s))
        .collect();
    if !uses_unusable.is_empty() {
        let reason = format!(
            "it uses storage {}, which was not converted",
            uses_unusable.join(" and ")
        );
        out.left_out.push(LeftOut {
            section: section.header(),
            key: String::new(),
            reason: reason.clone(),
        });
        let _ = writeln!(
            out.text,
            "# not converted ({reason}):\n# [pair.{}]",
            toml_key(&section.name)
        );
        for opt in &section.options {
            let _ = writeln!(
                out.text,
                "# {} = {}",
                plain(&opt.key),
                plain(&opt.value.to_string())
            );
        }
        return;
    }
    let _ = writeln!(out.text, "[pair.{}]", toml_key(&section.name));
    for opt in &section.options {
        let v = &opt.value;
        match (opt.key.as_str(), v) {
            ("a" | "b", Value::String(s)) => out.set(&opt.key, toml_str(s)),
            ("collections", Value::Null) => {
                let _ = writeln!(
                    out.text,
                    "# collections = null: a and b are themselves the one collection"
                );
            }
            ("collections", Value::Array(list)) => match collections(list) {
                Some(text) => out.set("collections", text),
                None => out.leave(
                    opt,
                    "expected names, \"from a\", \"from b\" or [NAME, NAME_ON_A, NAME_ON_B]",
                ),
            },
            ("conflict_resolution", Value::Null) => {}
            ("conflict_resolution", Value::String(s)) if s == "a wins" || s == "b wins" => {
                out.set("conflict_resolution", toml_str(s))
            }
            ("conflict_resolution", Value::Array(_)) => match strings(v).as_deref() {
                Some([first, cmd @ ..]) if first == "command" && !cmd.is_empty() => out.set(
                    "conflict_resolution",
                    format!("{{ command = {} }}", toml_strs(cmd)),
                ),
                _ => out.leave(opt, "expected [\"command\", PROGRAM, ARGS...]"),
            },
            ("partial_sync", Value::String(s))
                if matches!(s.as_str(), "revert" | "error" | "ignore") =>
            {
                out.set("partial_sync", toml_str(s))
            }
            ("metadata", Value::Array(_)) => match strings(v) {
                Some(keys) => out.set("metadata", toml_strs(&keys)),
                None => out.leave(opt, "expected a list of property names"),
            },
            ("implicit", Value::String(s)) if s == "create" => {
                let _ = writeln!(
                    out.text,
                    "# implicit = \"create\": davsync creates missing collections by itself"
                );
            }
            ("implicit", Value::Null) => {}
            _ => out.leave(
                opt,
                "not a key of davsync's pairs, or a value it does not take",
            ),
        }
    }
}

/// `collections` as a TOML array; `None` when an element has no davsync form.
fn collections(list: &[Value]) -> Option<String> {
    let mut items: Vec<toml::Value> = Vec::new();
    for c in list {
        items.push(match c {
            Value::String(s) => toml::Value::String(s.clone()),
            Value::Array(triple) => {
                let names = strings(&Value::Array(triple.clone()))?;
                if names.len() != 3 {
                    return None;
                }
                toml::Value::Array(names.into_iter().map(toml::Value::String).collect())
            }
            _ => return None,
        });
    }
    Some(toml::Value::Array(items).to_string())
}

#[cfg(test)]
mod tests;
