//! placeholder: the CalDAV/CardDAV backend (being written).
pub mod proto;
