//! Servers that ignore `If-Match` and `If-None-Match` (SOGo, Calypso): a conditional write
//! there overwrites or deletes whatever is on the server, so a stale etag would make davsync
//! destroy an edit it never saw. Before its first update or delete, a storage probes whether
//! the server enforces preconditions, on a scratch item it creates and removes in the
//! collection concerned. The answer is remembered for a day
//! ([`Remember`](crate::remember::Remember)): the probe costs 4 requests and moves the
//! collection's change token, so probing on every run would also make every next sync read
//! the scratch item's coming and going back. Where preconditions are not enforced, davsync
//! checks the item's etag itself (a PROPFIND Depth 0) right before each update or delete,
//! and that the href is free before each upload: one small request per write on those
//! servers only. A change landing between that check and the write can still be lost
//! there: the server offers no way to close that window. See docs/servers.md.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{IF_MATCH, IF_NONE_MATCH};
use serde::{Deserialize, Serialize};
use url::Url;

use super::proto;
use super::storage::DavStorage;
use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};
use crate::net::{self, Request};

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preconditions {
    /// A second `PUT` with `If-None-Match: *` over the scratch item was refused (412).
    pub if_none_match: bool,
    /// A `DELETE` with a wrong `If-Match` was refused (412).
    pub if_match: bool,
    /// False when the probe could not run (the scratch item was refused, or a request
    /// failed): the server is then trusted, as without the probe.
    pub probed: bool,
}

impl Preconditions {
    pub fn enforced(&self) -> bool {
        self.if_none_match && self.if_match
    }
}

/// A remembered probe is repeated after this long: a server upgraded or replaced under the
/// same URL may have changed its mind.
const PROBE_AGAIN_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// What is kept of a probe between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct RememberedProbe {
    /// Seconds since the Unix epoch.
    probed_at: u64,
    if_none_match: bool,
    if_match: bool,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The file name prefix of scratch items.
const PROBE_PREFIX: &str = "davsync-probe-";

/// True for the href of a scratch item: never an item to sync (one is left behind when
/// davsync is killed during the probe).
pub(super) fn is_probe_href(href: &str) -> bool {
    proto::last_segment(href.trim_end_matches('/')).starts_with(PROBE_PREFIX)
}

/// The etag no item ever has, for the wrong `If-Match` of the probe.
const WRONG_ETAG: &str = "\"davsync-probe-no-such-etag\"";

fn scratch_body(kind: ItemKind, uid: &str) -> String {
    match kind {
        ItemKind::Calendar => format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync//precondition probe//EN\r\n\
             BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20000101T000000Z\r\n\
             DTSTART:20000101T000000Z\r\nDURATION:PT1M\r\n\
             SUMMARY:davsync probe (removed at once)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        ),
        ItemKind::Contacts => format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:davsync probe (removed at once)\r\n\
             N:probe;davsync;;;\r\nEND:VCARD\r\n"
        ),
    }
}

impl DavStorage {
    /// Probes the server on a scratch item in `collection` (created, written over with
    /// `If-None-Match: *`, deleted with a wrong `If-Match`, then removed).
    pub async fn probe_preconditions(&self, collection: &Url) -> Result<Preconditions> {
        let uid = format!("{PROBE_PREFIX}{}", uuid::Uuid::new_v4());
        let url = collection
            .join(&format!("{uid}{}", self.ext()))
            .map_err(|e| Error::new(ErrorKind::InvalidData, uid.clone()).with_source(e))?;
        let item = Item::parse(self.kind(), scratch_body(self.kind(), &uid).into_bytes())
            .map_err(|e| Error::new(ErrorKind::InvalidData, "probe item").with_source(e))?;
        let unknown = Preconditions {
            if_none_match: true,
            if_match: true,
            probed: false,
        };
        let created = self.put(&url, &item, (IF_NONE_MATCH, "*")).await?;
        if !created.is_success() {
            tracing::debug!("{}: precondition probe not possible", created.describe());
            return Ok(unknown);
        }
        let again = self.put(&url, &item, (IF_NONE_MATCH, "*")).await;
        let wrong = Request::new(net::Method::DELETE, url.clone()).header(IF_MATCH, WRONG_ETAG)?;
        let deleted = self.client().send(&wrong).await;
        let found = match (&again, &deleted) {
            (Ok(a), Ok(d)) => Preconditions {
                if_none_match: !a.is_success(),
                if_match: !d.is_success(),
                probed: true,
            },
            _ => unknown,
        };
        if !matches!(&deleted, Ok(d) if d.is_success()) {
            // Conditional on what the probe wrote, where the server said what that is.
            let mut req = Request::new(net::Method::DELETE, url.clone());
            if let Some(etag) = created.etag() {
                req = req.header(IF_MATCH, etag)?;
            }
            let cleanup = self.client().send(&req).await?;
            if !cleanup.is_success() && cleanup.status.as_u16() != 404 {
                tracing::warn!("{}: the probe item stays on the server", cleanup.describe());
            }
        }
        again?;
        deleted?;
        tracing::debug!(collection = %collection, ?found, "precondition probe");
        Ok(found)
    }

    /// Leaves scratch items out of a listing, and removes them from the server (a run killed
    /// during its probe leaves one behind), conditional on the listed etag.
    pub(super) async fn drop_probe_items(
        &self,
        collection: &Url,
        entries: &mut Vec<proto::ListEntry>,
    ) {
        let (probes, items): (Vec<_>, Vec<_>) =
            entries.drain(..).partition(|e| is_probe_href(&e.href));
        *entries = items;
        for p in probes {
            let Ok(url) = collection.join(&p.href) else {
                continue;
            };
            let mut req = Request::new(net::Method::DELETE, url);
            if let Some(etag) = &p.etag {
                match req.clone().header(IF_MATCH, etag) {
                    Ok(r) => req = r,
                    Err(_) => continue,
                }
            }
            match self.client().send(&req).await {
                Ok(r) => tracing::debug!("{}: removed a leftover probe item", r.describe()),
                Err(e) => tracing::debug!("removing a leftover probe item: {e}"),
            }
        }
    }

    /// The key of this storage's remembered probe: kind, configured URL and user.
    fn probe_key(&self) -> String {
        let kind = match self.kind() {
            ItemKind::Calendar => "caldav",
            ItemKind::Contacts => "carddav",
        };
        format!("preconditions {kind} {} {}", self.root(), self.account())
    }

    /// What an earlier run's probe found, unless it is too old, unreadable, or the command
    /// asked for everything to be found out again.
    fn recalled_preconditions(&self) -> Option<Preconditions> {
        let store = self.remember()?;
        if !store.trust_recalled() {
            return None;
        }
        let text = store.recall(&self.probe_key())?;
        let r: RememberedProbe = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("remembered precondition probe unreadable ({e}): probing again");
                return None;
            }
        };
        if now_secs().saturating_sub(r.probed_at) >= PROBE_AGAIN_AFTER.as_secs() {
            return None;
        }
        Some(Preconditions {
            if_none_match: r.if_none_match,
            if_match: r.if_match,
            probed: true,
        })
    }

    /// The remembered answer, or a probe whose answer is then remembered (when it ran).
    async fn preconditions_for(&self, collection: &Url) -> Result<Preconditions> {
        if let Some(p) = self.recalled_preconditions() {
            tracing::debug!(?p, "preconditions as remembered from an earlier probe");
            return Ok(p);
        }
        let p = self.probe_preconditions(collection).await?;
        if let (true, Some(store)) = (p.probed, self.remember()) {
            let record = RememberedProbe {
                probed_at: now_secs(),
                if_none_match: p.if_none_match,
                if_match: p.if_match,
            };
            match serde_json::to_string(&record) {
                Ok(text) => store.keep(&self.probe_key(), &text),
                Err(e) => tracing::debug!("precondition probe not remembered: {e}"),
            }
        }
        Ok(p)
    }

    /// True when davsync must check etags itself before writing to this server.
    async fn unenforced(&self, collection: &Url) -> Result<bool> {
        let Some(cell) = &self.preconditions else {
            return Ok(false);
        };
        let p = cell
            .get_or_try_init(|| self.preconditions_for(collection))
            .await?;
        if !p.enforced() {
            tracing::debug!(
                "{}: the server does not enforce preconditions; checking etags before writes",
                collection
            );
        }
        Ok(!p.enforced())
    }

    /// The item's etag now (PROPFIND Depth 0), `None` when it does not exist: a 404/410, or a
    /// multistatus without it (Calypso answers an empty 207 for a missing item).
    async fn current_etag(&self, url: &Url) -> Result<Option<String>> {
        let req = proto::list_request();
        let r = Request::dav(req.method, url.clone())
            .depth("0")
            .xml(req.body);
        let resp = self.client().send(&r).await?;
        match resp.status.as_u16() {
            404 | 410 => Ok(None),
            207 => proto::first_prop_text(&resp.body, &resp.url, proto::names::GETETAG)
                .map_err(|e| Error::new(ErrorKind::InvalidData, resp.describe()).with_source(e)),
            _ => Err(resp.error(net::Target::ItemRead)),
        }
    }

    /// Before an update or delete with `If-Match: condition`: on a server that ignores it,
    /// the item's current etag must be that one, or the write is refused as the server
    /// should have refused it.
    pub(super) async fn guard_overwrite(
        &self,
        collection: &Url,
        url: &Url,
        condition: &str,
        what: &str,
    ) -> Result<()> {
        if !self.unenforced(collection).await? {
            return Ok(());
        }
        match self.current_etag(url).await? {
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("{what}: gone from the server since it was listed"),
            )),
            Some(now) if same_etag(&now, condition) => Ok(()),
            Some(_) => Err(Error::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "{what}: changed on the server since it was listed (checked by davsync: \
                     the server does not enforce If-Match)"
                ),
            )),
        }
    }

    /// Before an upload with `If-None-Match: *`: on a server that ignores it, the href must
    /// still be free.
    pub(super) async fn guard_upload(&self, collection: &Url, url: &Url, what: &str) -> Result<()> {
        if !self.unenforced(collection).await? {
            return Ok(());
        }
        match self.current_etag(url).await? {
            None => Ok(()),
            Some(_) => Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{what}: already on the server (checked by davsync: the server does not \
                     enforce If-None-Match)"
                ),
            )),
        }
    }
}

/// Etags compared as `If-Match` would: strong forms, quotes optional (Calypso sends none).
fn same_etag(a: &str, b: &str) -> bool {
    fn norm(e: &str) -> &str {
        let e = e.trim();
        let e = e.strip_prefix("W/").unwrap_or(e);
        e.trim_matches('"')
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_items_are_recognized_by_their_file_name() {
        assert!(is_probe_href("/cal/davsync-probe-1234.ics"));
        assert!(is_probe_href("/test/calendar/davsync-probe-1234"));
        assert!(!is_probe_href("/cal/event-davsync-probe-1.ics"));
    }

    #[test]
    fn etags_compare_in_their_strong_unquoted_form() {
        assert!(same_etag("\"abc\"", "\"abc\""));
        assert!(same_etag("W/\"abc\"", "\"abc\""));
        assert!(same_etag("abc", "\"abc\""));
        assert!(!same_etag("\"abc\"", "\"abd\""));
    }

    #[test]
    fn scratch_items_parse_and_carry_their_uid() {
        for kind in [ItemKind::Calendar, ItemKind::Contacts] {
            let item = Item::parse(kind, scratch_body(kind, "p-1").into_bytes()).unwrap();
            assert_eq!(item.uid(), Some("p-1"));
        }
    }
}
