//! The item model: one calendar object or one contact, its identity and its fingerprint.
//!
//! An [`Item`] keeps its bytes exactly as they were read; everything else is derived:
//! - the UID (`None` when the item has none: it is then identified by its hash);
//! - the hash of its normalized form, used to tell a real edit from noise (refolding,
//!   line endings, reordering, PRODID/DTSTAMP/LAST-MODIFIED/REV, server-added properties;
//!   docs/normalization.md has the full list);
//! - the LAST-MODIFIED (iCalendar) or REV (vCard) instant, for `newer wins`.
//!
//! [`split`] cuts a whole calendar or address book (singlefile, http feed) into items, each
//! made of verbatim slices of the input, and [`join`] puts items back into one file.
//!
//! Parsing is a small byte-level content-line lexer (`contentline`) and a BEGIN/END tree
//! (`component`): nothing is decoded or re-serialized, so legacy charsets and odd bytes
//! survive untouched.

mod component;
mod content_hash;
mod contentline;
mod datetime;
mod describe;
mod ical;
mod merge;
mod normalize;
mod vcard;

#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use content_hash::ContentHash;
pub use merge::{merge, MergePass};

/// Parses a LAST-MODIFIED / REV value (any RFC 6350 timestamp or date form, RFC 5545
/// DATE-TIME) into an instant; a date alone is midnight UTC. `None` when it names no instant.
pub fn parse_timestamp(value: &str) -> Option<DateTime<Utc>> {
    datetime::parse_timestamp(value.as_bytes())
}

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

/// Where the parts of an item sit in its bytes, so [`join`] can reassemble items without
/// parsing them again.
#[derive(Debug)]
enum Layout {
    Calendar {
        /// The BEGIN:VCALENDAR line.
        begin: Range<usize>,
        /// Calendar-level property lines (VERSION, PRODID, CALSCALE, X-WR-...).
        props: Vec<Range<usize>>,
        /// VTIMEZONEs with their TZID and normalized digest (the first of each TZID).
        timezones: Vec<Zone>,
        /// Every other component (the master, its overrides).
        components: Vec<Range<usize>>,
        /// Normalized digest of the calendar-level properties.
        wrapper: [u8; 32],
        eol: &'static [u8],
    },
    Contacts {
        /// The card, without a leading byte order mark or blank lines.
        body: Range<usize>,
        eol: &'static [u8],
    },
}

/// A VTIMEZONE inside an item.
#[derive(Debug)]
struct Zone {
    tzid: Vec<u8>,
    span: Range<usize>,
    digest: [u8; 32],
}

#[derive(Debug)]
struct Inner {
    kind: ItemKind,
    raw: Vec<u8>,
    uid: Option<String>,
    hash: ContentHash,
    /// The hash's text when there is no UID: the item's ident.
    hash_ident: Option<String>,
    last_modified: Option<DateTime<Utc>>,
    layout: Layout,
}

/// One calendar object (with its overrides and timezones) or one vCard, byte for byte.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Item(Arc<Inner>);

impl Item {
    /// Parses the bytes of exactly one item: one VCALENDAR whose components (other than
    /// VTIMEZONE) all share one UID, or a single component without UID; or one VCARD.
    /// Anything holding more than one item is an error naming the line of the second one:
    /// storages that hold several items per file go through [`split`].
    pub fn parse(kind: ItemKind, raw: impl Into<Vec<u8>>) -> Result<Item, ParseError> {
        let raw = raw.into();
        let parsed = match kind {
            ItemKind::Calendar => ical::parse_one(&raw)?,
            ItemKind::Contacts => vcard::parse_one(&raw)?,
        };
        let hash = ContentHash::of_digest(&parsed.digest);
        let hash_ident = match parsed.uid {
            Some(_) => None,
            None => Some(hash.as_str().into_owned()),
        };
        Ok(Item(Arc::new(Inner {
            kind,
            raw,
            uid: parsed.uid,
            hash,
            hash_ident,
            last_modified: parsed.last_modified,
            layout: parsed.layout,
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
        self.0.uid.as_deref()
    }

    /// The identity the status is keyed by: the UID, or the content hash for an item without
    /// one.
    pub fn ident(&self) -> &str {
        self.uid()
            .or(self.0.hash_ident.as_deref())
            .expect("an item without UID has its hash as ident")
    }

    /// SHA-256 of the normalized form: equal for versions a person would call equal.
    pub fn hash(&self) -> &ContentHash {
        &self.0.hash
    }

    /// LAST-MODIFIED (the latest over the components) or REV, as an instant.
    pub fn last_modified(&self) -> Option<DateTime<Utc>> {
        self.0.last_modified
    }

    /// The same item under another UID, for `repair` and `keep both`: the UID line of every
    /// component (or of the card) is rewritten, or added after BEGIN (after VERSION in a
    /// vCard) where there is none. All other bytes stay as they were. Line breaks in `uid`
    /// are dropped, as a UID cannot hold them.
    pub fn with_uid(&self, uid: &str) -> Item {
        let uid: String = uid.chars().filter(|&c| c != '\r' && c != '\n').collect();
        let raw = match self.0.kind {
            ItemKind::Calendar => ical::with_uid(&self.0.raw, &uid),
            ItemKind::Contacts => vcard::with_uid(&self.0.raw, &uid),
        };
        Item::parse(self.0.kind, raw)
            .expect("an item stays parseable when only its UID line changes")
    }
}

/// What parsing one item yields besides its bytes.
struct Parsed {
    uid: Option<String>,
    digest: [u8; 32],
    last_modified: Option<DateTime<Utc>>,
    layout: Layout,
}

/// Cuts a whole calendar (any number of VCALENDARs, each component grouped by UID with the
/// VTIMEZONEs it uses) or address book into items. Input holding exactly one item comes back
/// as one item with exactly the input's bytes; empty input (or only blank lines) holds none.
pub fn split(kind: ItemKind, raw: &[u8]) -> Result<Vec<Item>, ParseError> {
    match kind {
        ItemKind::Calendar => ical::split(raw),
        ItemKind::Contacts => vcard::split(raw),
    }
}

/// Puts items back into one file: one VCALENDAR (the calendar-level properties of the first
/// item, each VTIMEZONE once, then every item's components), or the VCARDs one after another.
/// Items whose calendar-level properties really differ (beyond PRODID and the other ignored
/// ones), or that define one TZID differently, go into separate VCALENDARs, so that nothing
/// they hold is lost and splitting the result gives the same items back.
/// No items give an empty VCALENDAR, or an empty address book (no bytes).
pub fn join(kind: ItemKind, items: &[Item]) -> Vec<u8> {
    match kind {
        ItemKind::Calendar => ical::join(items),
        ItemKind::Contacts => vcard::join(items),
    }
}

/// Appends `bytes`, then `eol` unless they already end a line.
fn push_line_span(out: &mut Vec<u8>, bytes: &[u8], eol: &[u8]) {
    out.extend_from_slice(bytes);
    if !matches!(bytes.last(), Some(b'\n' | b'\r')) {
        out.extend_from_slice(eol);
    }
}
