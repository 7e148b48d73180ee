//! The CalDAV/CardDAV storage.
//!
//! [`proto`] builds request bodies and parses multistatus answers as pure functions;
//! [`DavStorage`] sends them over a [`crate::net::Client`] and maps the answers onto the
//! [`crate::Storage`] contract. How discovery, listing, reads, writes and hrefs work, and why,
//! is written down in docs/storages-dav.md.

mod accepts;
mod capabilities;
mod discovery;
mod guard;
pub mod proto;
mod storage;

pub use capabilities::{ChangeCheck, CollectionReport, ServerReport};
pub use discovery::SharedListings;
pub use guard::Preconditions;
pub use storage::{item_file_name, DavOptions, DavStorage, DEFAULT_MULTIGET_BATCH};
