//! Incremental listing: the `sync-collection` REPORT (RFC 6578).

use url::Url;

use super::list::{list_entry, ListEntry, LIST_PROPS};
use super::multistatus::parse_multistatus;
use super::names;
use super::xml::{Ev, XmlIn, XmlOut};
use super::{DavRequest, ProtoError};

/// What a sync-collection report says changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResult {
    /// Members created or changed since the token (may include sub-collections: filter with
    /// [`ListEntry::is_item_for`]).
    pub changed: Vec<ListEntry>,
    /// Members removed since the token (a response with status 404).
    pub deleted: Vec<String>,
    /// The token to send next time.
    pub token: Option<String>,
    /// The server stopped early (507, or our `limit`): send the new token again for the rest.
    pub truncated: bool,
}

/// `REPORT` `sync-collection` (Depth 0, `sync-level` 1) asking for `getetag`,
/// `getcontenttype` and `resourcetype`. `token` `None` (or empty) asks for an initial, full
/// listing. `limit` becomes `<limit><nresults>`.
pub fn sync_collection_request(token: Option<&str>, limit: Option<u32>) -> DavRequest {
    let mut out = XmlOut::new(names::SYNC_COLLECTION, &[names::NS_DAV]);
    match token.map(str::trim).filter(|t| !t.is_empty()) {
        Some(token) => out.text_element(names::SYNC_TOKEN, token),
        None => out.empty(names::SYNC_TOKEN),
    };
    out.text_element(names::SYNC_LEVEL, "1");
    if let Some(limit) = limit {
        out.start(names::LIMIT)
            .text_element(names::NRESULTS, &limit.to_string())
            .end();
    }
    out.prop_names(&LIST_PROPS);
    DavRequest {
        method: "REPORT",
        // RFC 6578 §3.2: the scope is in sync-level; the Depth header must be 0.
        depth: Some("0"),
        body: out.finish(),
    }
}

/// Parses a sync-collection answer.
pub fn parse_sync_collection(body: &[u8], base: &Url) -> Result<SyncResult, ProtoError> {
    let mut result = SyncResult::default();
    let info = parse_multistatus(body, base, |response| match response.status {
        Some(404) => result.deleted.push(response.href),
        // Any other failure says nothing about the member: neither changed nor gone.
        Some(status) if !(200..300).contains(&status) => {}
        _ => result.changed.push(list_entry(&response, base)),
    })?;
    result.token = info.sync_token;
    result.truncated = info.truncated;
    Ok(result)
}

/// True when a failed sync-collection request says the token is no longer valid
/// (`DAV:valid-sync-token` precondition, RFC 6578 §3.2): the storage then starts over
/// with an empty token and treats the answer as a complete listing.
pub fn is_invalid_sync_token(status: u16, body: &[u8]) -> bool {
    if !matches!(status, 403 | 409) {
        return false;
    }
    let mut x = XmlIn::new(body);
    if x.expect_root(names::ERROR).is_err() {
        return false;
    }
    loop {
        match x.next() {
            Ok(Ev::Start { ns, local, .. }) if names::VALID_SYNC_TOKEN.is(&ns, &local) => {
                return true
            }
            Ok(Ev::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}
