//! placeholder: the CalDAV/CardDAV backend (being written).
