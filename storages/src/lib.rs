//! The storage side of davsync: the item model, the [`Storage`] trait and its backends.
//!
//! # The model
//!
//! - A **storage** is one configured place that holds calendars or address books: a local
//!   folder ([`vdir`]), a single file ([`singlefile`]), a CalDAV/CardDAV server ([`dav`]) or a
//!   read-only iCalendar feed ([`http`]). Every backend implements the one object-safe
//!   [`Storage`] trait and is shared as `Arc<dyn Storage>`.
//! - A storage holds **collections** ([`Collection`]): a calendar or an address book, i.e. a
//!   sub-folder of a vdir or a WebDAV collection. A storage configured without `collections`
//!   is itself one collection ([`Storage::root_collection`]).
//! - A collection holds **items** ([`Item`]): one VEVENT/VTODO/VJOURNAL with all its
//!   RECURRENCE-ID overrides and the VTIMEZONEs they use, or one VCARD. An item is stored under
//!   an **href** ([`Href`], a file name or a URL path) and versioned by an **etag** ([`Etag`]):
//!   an opaque token that changes whenever the stored bytes change.
//! - Items travel byte for byte. Parsing serves only to find the UID, to compare two versions
//!   (the [`ContentHash`] of a normalized form, see [`item`]) and to read LAST-MODIFIED/REV.
//! - Every write is conditional on an etag. A stale etag fails with
//!   [`ErrorKind::PreconditionFailed`], so a concurrent edit is never overwritten blindly.
//! - A backend that can tell what changed hands out a [`CollectionToken`] with each
//!   [`Storage::changes`] answer and takes it back next time: a [`SyncToken`] (RFC 6578
//!   sync-collection, "changes since here"), a [`Ctag`] (a server without sync-collection:
//!   "unchanged or not"), or both (a server whose ctag is the cheaper way to see that nothing
//!   moved). The engine keeps it between runs as its text
//!   ([`CollectionToken::to_text`]).
//!
//! The engine that pairs two storages and the status it keeps live in the `davsync` binary
//! crate; this crate never depends on them and never prints.

// The storages report through errors and `tracing`, never to the terminal: the binary owns
// stdout and stderr.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod dav;
pub mod error;
pub mod http;
pub mod item;
pub mod localfs;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod net;
pub mod remember;
pub mod singlefile;
pub mod storage;
pub mod vdir;
pub mod wrappers;

pub use error::{Error, ErrorKind, Result};
pub use item::{ContentHash, Item, ItemKind};
pub use storage::{
    Changes, Collection, CollectionMeta, CollectionToken, Ctag, Etag, Fetched, Href, ItemRef,
    MetaKey, SharedStorage, Storage, SyncToken,
};
