//! Listing a collection: hrefs and etags (PROPFIND, or calendar-query where filtered), with
//! made-up etags for members listed without one.

use std::collections::{HashMap, HashSet};

use url::Url;

use super::read::ReadFailure;
use super::{invalid, DavStorage};
use crate::dav::proto::{self, CalendarQuery, ItemFailure, ListEntry};
use crate::error::Result;
use crate::net::Target;
use crate::storage::{Collection, Etag, Href, ItemRef};

/// The etag of a member listed without one whose body could not be read to hash it.
const UNREADABLE_ETAG: &str = "davsync-unreadable";

impl DavStorage {
    /// The members of a collection that are items of our kind, etags as the server sent them.
    pub(super) async fn list_entries(&self, url: &Url) -> Result<Vec<ListEntry>> {
        let mut entries: Vec<ListEntry> = Vec::new();
        if self.filtered() {
            let mut seen = HashSet::new();
            for component in self.query_components() {
                let query = CalendarQuery {
                    component,
                    start: self.start,
                    end: self.end,
                    with_data: false,
                };
                let resp = self
                    .dav(url, proto::calendar_query_request(&query))
                    .await?
                    .ok(Target::Collection)?;
                for e in proto::parse_list(&resp.body, &resp.url).map_err(|e| invalid(&resp, e))? {
                    if seen.insert(e.href.clone()) {
                        entries.push(e);
                    }
                }
            }
        } else {
            let resp = self
                .dav(url, proto::list_request())
                .await?
                .ok(Target::Collection)?;
            entries = proto::parse_list(&resp.body, &resp.url).map_err(|e| invalid(&resp, e))?;
        }
        entries.retain(|e| e.is_item_for(self.kind));
        // One entry per href: DavMail (Exchange) lists some twice in one answer.
        let mut once = HashSet::new();
        entries.retain(|e| once.insert(e.href.clone()));
        self.drop_probe_items(url, &mut entries).await;
        Ok(entries)
    }

    /// Turns listed entries into [`ItemRef`]s; entries without an etag are read and get the
    /// hash of their body (an entry gone by then is dropped: it is gone).
    pub(super) async fn complete_etags(
        &self,
        url: &Url,
        entries: Vec<ListEntry>,
    ) -> Result<Vec<ItemRef>> {
        let missing: Vec<Href> = entries
            .iter()
            .filter(|e| e.etag.is_none())
            .map(|e| Href(e.href.clone()))
            .collect();
        let mut fetched = if missing.is_empty() {
            HashMap::new()
        } else {
            tracing::debug!(
                collection = %url,
                count = missing.len(),
                "listing without etags: reading the items to hash them"
            );
            self.multiget_raw(url, &missing).await?
        };
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let etag = match e.etag {
                Some(etag) => Etag(etag),
                None => match fetched.remove(&e.href) {
                    Some(Ok((etag, _))) => etag,
                    // Deleted since it was listed: really gone.
                    Some(Err(ReadFailure::Item(ItemFailure::Status(404 | 410)))) => continue,
                    // Unreadable for now: it stays listed (leaving it out would read as a
                    // deletion) under an etag no read ever returns, so the engine reads it
                    // and that item alone fails.
                    Some(Err(_)) | None => Etag(UNREADABLE_ETAG.to_owned()),
                },
            };
            out.push(ItemRef {
                href: Href(e.href),
                etag,
            });
        }
        Ok(out)
    }

    pub(super) async fn list_items(&self, collection: &Collection) -> Result<Vec<ItemRef>> {
        let url = self.collection_url(collection)?;
        let entries = self.list_entries(&url).await?;
        self.complete_etags(&url, entries).await
    }
}
