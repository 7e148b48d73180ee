//! Changes since a token: the home-set listing's tokens, the cheap `sync-token` pre-check,
//! sync-collection (RFC 6578) with its pages, and the getctag way for servers without it.

use std::collections::{BTreeMap, BTreeSet};

use url::Url;

use super::{invalid, DavStorage};
use crate::dav::discovery::{self, ListedTokens};
use crate::dav::proto::{self, ListEntry, ProtoError};
use crate::error::{Error, ErrorKind, Result};
use crate::net::{Response, Target};
use crate::storage::{Changes, Collection, CollectionToken, Ctag, Href, SyncToken};

/// Sync-token prefixes of servers that compute the `sync-token` property as expensively as
/// a whole sync-collection answer, so a pre-check would only double a no-op's cost.
/// Radicale 3 hashes every item of the collection for either (0.7 s per 5,000 items on the
/// reference machine); Xandikos answers the property in 3 to 5 ms against 90 to 100 ms for
/// the REPORT. Radicale's `getctag` costs less (it skips the sync-state bookkeeping): a
/// Depth 1 listing of a home set with two collections of 1,000 items took 127 ms asking
/// `getctag` against 187 ms asking `sync-token`, and each sync-collection REPORT 91 ms.
const EXPENSIVE_SYNC_TOKEN_PROPERTY: &[&str] = &["http://radicale.org/ns/sync/"];

/// True when `token` comes from a server that computes the `sync-token` property at a
/// REPORT's price (see [`EXPENSIVE_SYNC_TOKEN_PROPERTY`]): it is not asked for on its own,
/// and home-set listings ask for the `getctag` instead.
pub(crate) fn sync_token_property_is_expensive(token: &str) -> bool {
    EXPENSIVE_SYNC_TOKEN_PROPERTY
        .iter()
        .any(|prefix| token.starts_with(prefix))
}

/// Upper bound on sync-collection pages followed in one call (a server that keeps
/// truncating would otherwise loop forever).
const MAX_SYNC_PAGES: usize = 1000;

impl DavStorage {
    /// The tokens the home-set listing gave for this collection, taken once: empty when the
    /// listing named none (or did not run).
    fn take_listed(&self, url: &Url) -> ListedTokens {
        self.listed
            .lock()
            .expect("listed tokens poisoned")
            .remove(url.as_str())
            .unwrap_or_default()
    }

    pub(super) async fn changes_of(
        &self,
        collection: &Collection,
        since: Option<&CollectionToken>,
    ) -> Result<Option<Changes>> {
        if self.filtered() {
            // sync-collection cannot apply the time-range/component filter; list() can.
            return Ok(None);
        }
        let url = self.collection_url(collection)?;
        let result = self.changes_at(&url, since).await;
        if result
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::NotFound)
        {
            // A collection the listing named is gone: where it was found may have moved.
            discovery::forget(self);
        }
        result
    }

    /// True when the collection's `sync-token` property still equals `since`: nothing
    /// changed, and the sync-collection REPORT (which makes the server compare its whole
    /// state with the token) can be skipped. Any failure just means "ask the REPORT".
    /// Skipped for servers whose property costs as much as the REPORT itself.
    async fn unchanged_since(&self, url: &Url, since: &SyncToken) -> bool {
        if sync_token_property_is_expensive(since.as_str()) {
            return false;
        }
        matches!(
            self.collection_prop(url, proto::sync_token_request(), proto::parse_sync_token).await,
            Ok(Some(now)) if now == since.as_str()
        )
    }

    /// A failed sync-collection: the getctag way ([`ctag_changes`](Self::ctag_changes)) when
    /// the server does not do RFC 6578, the mapped error otherwise.
    async fn without_sync_collection(&self, url: &Url, resp: Response) -> Result<Option<Changes>> {
        if !sync_collection_unsupported(resp.status.as_u16()) {
            return Err(resp.error(Target::Collection));
        }
        tracing::debug!(
            "{}: no sync-collection, asking for the getctag",
            resp.describe()
        );
        self.ctag_changes(url, None).await
    }

    /// Changes for a server without sync-collection, from the collection's `getctag`: equal
    /// to `since` (the ctag stored last time), nothing changed and nothing more is sent;
    /// otherwise the complete listing, under a [`CollectionToken::Ctag`], so that the next
    /// call asks for the ctag alone and sends no REPORT. The ctag is read before the
    /// listing, so a change made while listing moves it past the stored value and is seen
    /// next time. `Ok(None)` (the engine lists) when the collection has no ctag.
    async fn ctag_changes(&self, url: &Url, since: Option<&Ctag>) -> Result<Option<Changes>> {
        let Some(ctag) = self.ctag(url).await? else {
            tracing::debug!(collection = %url, "no getctag either, listing");
            return Ok(None);
        };
        let unchanged = since == Some(&ctag);
        let token = Some(CollectionToken::Ctag(ctag));
        if unchanged {
            return Ok(Some(Changes {
                token,
                changed: Vec::new(),
                deleted: Vec::new(),
                complete: false,
            }));
        }
        let entries = self.list_entries(url).await?;
        let changed = self.complete_etags(url, entries).await?;
        Ok(Some(Changes {
            token,
            changed,
            deleted: Vec::new(),
            complete: true,
        }))
    }

    /// The collection's `getctag`, `None` when it has none.
    async fn ctag(&self, url: &Url) -> Result<Option<Ctag>> {
        let ctag = self
            .collection_prop(url, proto::ctag_request(), proto::parse_ctag)
            .await?;
        Ok(ctag.map(Ctag))
    }

    /// One property of the collection (a Depth 0 PROPFIND and its reader), `None` when it
    /// has none. An answer that is not a multistatus carrying it also counts as none: what
    /// the caller asks next says what is wrong with the collection, if anything.
    async fn collection_prop(
        &self,
        url: &Url,
        req: proto::DavRequest,
        read: fn(&[u8], &Url) -> std::result::Result<Option<String>, ProtoError>,
    ) -> Result<Option<String>> {
        let resp = self.dav(url, req).await?;
        if !resp.is_success() {
            tracing::debug!("{}: property not available", resp.describe());
            return Ok(None);
        }
        match read(&resp.body, &resp.url) {
            Ok(value) => Ok(value),
            Err(e) => {
                tracing::debug!("{}: property not readable ({e})", resp.describe());
                Ok(None)
            }
        }
    }

    /// [`Storage::changes`] for an unfiltered collection: nothing sent when the home-set
    /// listing already said the token did not move; otherwise the cheap pre-check (where it
    /// is cheap and the listing did not answer), then sync-collection, or the getctag way.
    async fn changes_at(
        &self,
        url: &Url,
        since: Option<&CollectionToken>,
    ) -> Result<Option<Changes>> {
        let listed = self.take_listed(url);
        if let Some(since) = since {
            if listed_unchanged(since, &listed) == Some(true) {
                tracing::debug!(collection = %url, "unchanged (per the home-set listing)");
                return Ok(Some(Changes {
                    token: Some(since.clone()),
                    changed: Vec::new(),
                    deleted: Vec::new(),
                    complete: false,
                }));
            }
        }
        let answered = since.and_then(|s| listed_unchanged(s, &listed)).is_some();
        let since = match since {
            Some(CollectionToken::Ctag(ctag)) => return self.ctag_changes(url, Some(ctag)).await,
            Some(token) => token.sync_token(),
            None => None,
        };
        if let (Some(since), false) = (since, answered) {
            if self.unchanged_since(url, since).await {
                return Ok(Some(Changes {
                    token: Some(CollectionToken::Sync(since.clone())),
                    changed: Vec::new(),
                    deleted: Vec::new(),
                    complete: false,
                }));
            }
        }
        // The ctag to keep with the new sync token, read before the REPORT below (a change
        // made in between then moves it past the kept one): the listing's, or, on a server
        // whose sync-token property is the expensive one and whose listing carried that
        // instead (the run that switches its listings to the ctag), read now, once, so
        // that the very next run's listing can already tell that nothing moved.
        let ctag = match listed.ctag {
            Some(ctag) => Some(Ctag(ctag)),
            None if listed
                .sync_token
                .as_deref()
                .is_some_and(sync_token_property_is_expensive) =>
            {
                self.ctag(url).await.ok().flatten()
            }
            None => None,
        };
        let with_ctag = |sync: SyncToken| match &ctag {
            Some(ctag) => CollectionToken::SyncWithCtag {
                sync,
                ctag: ctag.clone(),
            },
            None => CollectionToken::Sync(sync),
        };
        let mut complete = since.is_none();
        let first = match self.sync_report(url, since.map(SyncToken::as_str)).await? {
            Ok(r) => r,
            Err(resp) => {
                let status = resp.status.as_u16();
                if since.is_some() && proto::is_invalid_sync_token(status, &resp.body) {
                    tracing::debug!(collection = %url, "sync token rejected, listing from scratch");
                    complete = true;
                    match self.sync_report(url, None).await? {
                        Ok(r) => r,
                        Err(resp) => return self.without_sync_collection(url, resp).await,
                    }
                } else {
                    return self.without_sync_collection(url, resp).await;
                }
            }
        };

        if first.token.is_none() && !first.truncated {
            // An answer without a sync-token (Calypso lists everything and gives none) is no
            // way to see changes: the getctag is, when the collection has one.
            tracing::debug!(collection = %url, "sync-collection gave no token, trying the getctag");
            if let Some(changes) = self.ctag_changes(url, None).await? {
                return Ok(Some(changes));
            }
        }

        // By href, the last page's word winning: a full listing of thousands of members
        // must not cost a scan of all the others per member.
        let mut changed: BTreeMap<String, ListEntry> = BTreeMap::new();
        let mut deleted: BTreeSet<String> = BTreeSet::new();
        let mut page = first;
        let mut pages = 1;
        loop {
            for e in page.changed {
                deleted.remove(&e.href);
                changed.remove(&e.href);
                if e.is_item_for(self.kind) {
                    changed.insert(e.href.clone(), e);
                }
            }
            for d in page.deleted {
                changed.remove(&d);
                if !complete {
                    deleted.insert(d);
                }
            }
            let token = page.token.clone();
            if !page.truncated {
                if ctag.is_none()
                    && token
                        .as_deref()
                        .is_some_and(sync_token_property_is_expensive)
                {
                    discovery::prefer_ctag(self);
                }
                let mut entries: Vec<ListEntry> = changed.into_values().collect();
                self.drop_probe_items(url, &mut entries).await;
                let changed = self.complete_etags(url, entries).await?;
                return Ok(Some(Changes {
                    token: token.map(|t| with_ctag(SyncToken(t))),
                    changed,
                    deleted: deleted.into_iter().map(Href).collect(),
                    complete,
                }));
            }
            let Some(token) = token else {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!("REPORT {url}: truncated sync-collection answer without a sync-token"),
                ));
            };
            pages += 1;
            if pages > MAX_SYNC_PAGES {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "REPORT {url}: more than {MAX_SYNC_PAGES} truncated sync-collection pages"
                    ),
                ));
            }
            page = match self.sync_report(url, Some(&token)).await? {
                Ok(r) => r,
                Err(resp) => return Err(resp.error(Target::Collection)),
            };
        }
    }

    /// One sync-collection exchange: `Ok(None)` when the server does not support it.
    async fn sync_report(
        &self,
        url: &Url,
        token: Option<&str>,
    ) -> Result<std::result::Result<proto::SyncResult, Response>> {
        let resp = self
            .dav(url, proto::sync_collection_request(token, None))
            .await?;
        if resp.is_success() {
            let r = proto::parse_sync_collection(&resp.body, &resp.url)
                .map_err(|e| invalid(&resp, e))?;
            return Ok(Ok(r));
        }
        Ok(Err(resp))
    }
}

/// What the home-set listing says of a collection last seen at `since`: `Some(true)`
/// unchanged, `Some(false)` changed, `None` when it gave no token to compare with.
fn listed_unchanged(since: &CollectionToken, listed: &ListedTokens) -> Option<bool> {
    let same_ctag = |ctag: &Ctag| listed.ctag.as_ref().map(|now| *now == ctag.0);
    let same_sync = |sync: &SyncToken| listed.sync_token.as_ref().map(|now| *now == sync.0);
    match since {
        CollectionToken::Ctag(ctag) => same_ctag(ctag),
        CollectionToken::Sync(sync) => same_sync(sync),
        CollectionToken::SyncWithCtag { sync, ctag } => match (same_ctag(ctag), same_sync(sync)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (None, None) => None,
            _ => Some(false),
        },
    }
}

/// True when a failed sync-collection answer means the server does not do RFC 6578 (rather
/// than a failure to report).
fn sync_collection_unsupported(status: u16) -> bool {
    matches!(status, 400 | 403 | 405 | 409 | 415 | 422 | 501)
}
