//! The integration tests of the `davsync-storages` crate, as one test binary
//! (`cargo test -p davsync-storages --test it`).
//!
//! Each file of this folder is one module; a test is selected by its path, e.g.
//! `cargo test -p davsync-storages --test it dav_wiremock::`. One binary instead of one per
//! file because every test binary links the whole dependency tree (figures in
//! docs/testing.md).
//!
//! To add a test file: create `storages/tests/it/<name>.rs` and add `mod <name>;` below. The
//! shared helpers of the DAV and http tests are the module `dav_support`
//! (`use crate::dav_support;`).

mod dav_support;

mod body_cap;
mod corpus;
mod dav_batching;
mod dav_hosted_profiles;
mod dav_listing_tokens;
mod dav_remembered;
mod dav_secrets;
mod dav_server_quirks;
mod dav_wiremock;
mod http_tls;
mod http_wiremock;
mod singlefile;
mod vdir;
mod xml_safety;
