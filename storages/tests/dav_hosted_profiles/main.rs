//! Quirks of hosted servers that cannot run here, reproduced from their documented
//! behaviour; one module per server (docs/servers.md, "Hosted servers", says what davsync
//! does for each).

#[path = "../dav_support/mod.rs"]
mod dav_support;

mod davmail;
mod google;
mod icloud;
mod nextcloud;
mod zoho_zimbra;
