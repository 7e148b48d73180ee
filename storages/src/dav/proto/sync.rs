//! Incremental listing: the `sync-collection` REPORT (RFC 6578).

use url::Url;

use super::list::ListEntry;
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
    todo!()
}

/// Parses a sync-collection answer.
pub fn parse_sync_collection(body: &[u8], base: &Url) -> Result<SyncResult, ProtoError> {
    todo!()
}

/// True when a failed sync-collection request says the token is no longer valid
/// (`DAV:valid-sync-token` precondition, RFC 6578 §3.2): the storage then starts over
/// with an empty token and treats the answer as a complete listing.
pub fn is_invalid_sync_token(status: u16, body: &[u8]) -> bool {
    todo!()
}
