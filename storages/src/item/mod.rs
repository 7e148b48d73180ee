//! The item model: one calendar object or one contact, its identity and its fingerprint.
//!
//! An [`Item`] keeps its bytes exactly as they were read; everything else is derived:
//! - the UID (`None` when the item has none: it is then identified by its hash);
//! - the hash of its normalized form, used to tell a real edit from noise (refolding,
//!   line endings, reordering, PRODID/DTSTAMP/LAST-MODIFIED/REV, server-added X- properties);
//! - the LAST-MODIFIED (iCalendar) or REV (vCard) instant, for `newer wins`.
//!
//! [`split`] cuts a whole calendar or address book (singlefile, http feed) into items and
//! [`join`] puts items back into one file.
//!
//! NOTE: this first version is a minimal placeholder so the engine can be built against the
//! API; the full parser and normalization replace it.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// What a storage holds: decides how bytes are split and which properties matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// iCalendar (VEVENT, VTODO, VJOURNAL).
    Calendar,
    /// vCard.
    Contacts,
}

/// A parse failure, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug)]
struct Inner {
    kind: ItemKind,
    raw: Vec<u8>,
    uid: Option<String>,
    hash: String,
    last_modified: Option<DateTime<Utc>>,
}

/// One calendar object (with its overrides and timezones) or one vCard, byte for byte.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Item(Arc<Inner>);

impl Item {
    /// Parses the bytes of exactly one item (one VCALENDAR holding one UID, or one VCARD).
    pub fn parse(kind: ItemKind, raw: impl Into<Vec<u8>>) -> Result<Item, ParseError> {
        let raw = raw.into();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let lines = unfold(&text);
        if !lines
            .first()
            .is_some_and(|l| l.to_ascii_uppercase().starts_with("BEGIN:"))
        {
            return Err(ParseError {
                line: 1,
                message: "does not begin with BEGIN:".into(),
            });
        }
        let mut uid = None;
        let mut norm: Vec<&str> = Vec::new();
        for l in &lines {
            let upper = l.to_ascii_uppercase();
            if uid.is_none() && upper.starts_with("UID:") {
                uid = Some(l[4..].trim().to_owned());
            }
            if ["PRODID", "DTSTAMP", "LAST-MODIFIED", "REV"]
                .iter()
                .any(|p| upper.starts_with(&format!("{p}:")) || upper.starts_with(&format!("{p};")))
            {
                continue;
            }
            norm.push(l);
        }
        norm.sort_unstable();
        let mut h = Sha256::new();
        for l in norm {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
        let hash = hex::encode(h.finalize());
        Ok(Item(Arc::new(Inner {
            kind,
            raw,
            uid,
            hash,
            last_modified: None,
        })))
    }

    pub fn kind(&self) -> ItemKind {
        self.0.kind
    }

    /// The bytes as stored: what every storage writes.
    pub fn raw(&self) -> &[u8] {
        &self.0.raw
    }

    pub fn uid(&self) -> Option<&str> {
        self.0.uid.as_deref().filter(|u| !u.is_empty())
    }

    /// The identity the status is keyed by: the UID, or the content hash for an item without
    /// one.
    pub fn ident(&self) -> &str {
        self.uid().unwrap_or(&self.0.hash)
    }

    /// Hex SHA-256 of the normalized form: equal for versions a person would call equal.
    pub fn hash(&self) -> &str {
        &self.0.hash
    }

    /// LAST-MODIFIED (the latest over the components) or REV, as an instant.
    pub fn last_modified(&self) -> Option<DateTime<Utc>> {
        self.0.last_modified
    }

    /// The same item under another UID (every component's UID line rewritten), for `repair`
    /// and `keep both`.
    pub fn with_uid(&self, uid: &str) -> Item {
        let text = String::from_utf8_lossy(&self.0.raw);
        let mut out = String::new();
        let mut replaced = false;
        for line in text.split_inclusive('\n') {
            if line.to_ascii_uppercase().starts_with("UID:") {
                let eol = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
                out.push_str(&format!("UID:{uid}{eol}"));
                replaced = true;
            } else if !replaced
                && line.to_ascii_uppercase().starts_with("END:V")
                && !line.to_ascii_uppercase().starts_with("END:VCALENDAR")
            {
                let eol = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
                out.push_str(&format!("UID:{uid}{eol}"));
                out.push_str(line);
                replaced = true;
            } else {
                out.push_str(line);
            }
        }
        Item::parse(self.kind(), out.into_bytes()).expect("re-parsing an item with a new UID")
    }
}

fn unfold(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if (line.starts_with(' ') || line.starts_with('\t')) && !out.is_empty() {
            out.last_mut().unwrap().push_str(&line[1..]);
        } else if !line.is_empty() {
            out.push(line.to_owned());
        }
    }
    out
}

/// Cuts a whole calendar (any number of VCALENDARs, each component grouped by UID with the
/// VTIMEZONEs it uses) or address book into items.
pub fn split(kind: ItemKind, raw: &[u8]) -> Result<Vec<Item>, ParseError> {
    let _ = (kind, raw);
    todo!("item::split")
}

/// Puts items back into one file: one VCALENDAR with each VTIMEZONE once, or the VCARDs one
/// after another.
pub fn join(kind: ItemKind, items: &[Item]) -> Vec<u8> {
    let _ = (kind, items);
    todo!("item::join")
}
