//! Calendars that take only some components: iCloud's take VEVENT or VTODO, Google's VEVENT
//! only, and both refuse an item of another kind. Rather than upload it blindly and read a
//! bare 403 or 415, an upload first compares the item's components with the calendar's
//! `supported-calendar-component-set`, as the discovery listing gave it or, for a
//! collection discovery did not list in this run, as one PROPFIND Depth 0 answers (once per
//! collection and run). An item the calendar does not take fails alone, before any write,
//! with a message naming what it is and what the calendar takes; the next sync tries again
//! (and fails the same way until the item or the configuration changes). A calendar that
//! does not say what it takes is sent everything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use url::Url;

use super::proto;
use super::storage::DavStorage;
use crate::error::{Error, ErrorKind, Result};
use crate::item::{Item, ItemKind};

/// What each calendar takes, by collection URL (with its trailing slash); an empty list
/// when it did not say. One cell per collection, so the uploads in flight at once ask once.
#[derive(Debug, Default)]
pub(super) struct Accepted {
    known: Mutex<HashMap<String, Arc<OnceCell<Vec<String>>>>>,
}

impl Accepted {
    /// Records what a listing said of these collections.
    pub(super) fn learn(&self, found: impl IntoIterator<Item = (String, Vec<String>)>) {
        let mut known = self.known.lock().expect("accepted components poisoned");
        for (url, components) in found {
            known.insert(url, Arc::new(OnceCell::new_with(Some(components))));
        }
    }

    fn cell(&self, url: &Url) -> Arc<OnceCell<Vec<String>>> {
        let mut known = self.known.lock().expect("accepted components poisoned");
        known.entry(url.to_string()).or_default().clone()
    }
}

/// Fails the upload of `item` to calendar `coll` when the calendar says it does not take the
/// item's components. `what` names the item for the message.
pub(super) async fn check_upload(
    s: &DavStorage,
    accepted: &Accepted,
    coll: &Url,
    item: &Item,
    what: &str,
) -> Result<()> {
    if s.kind() != ItemKind::Calendar {
        return Ok(());
    }
    let components = proto::item_components(item.raw());
    if components.is_empty() {
        return Ok(());
    }
    let cell = accepted.cell(coll);
    let takes = cell.get_or_init(|| ask(s, coll)).await;
    let refused = proto::refused_components(takes, &components);
    if refused.is_empty() {
        return Ok(());
    }
    let names =
        |cs: &[proto::Component]| cs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
    Err(Error::new(
        ErrorKind::Refused,
        format!(
            "{what}: not uploaded: it is a {} and calendar {coll} takes only {} (its \
             supported-calendar-component-set); keep such items in a calendar that takes them",
            names(&refused),
            takes.join(", ")
        ),
    ))
}

/// The calendar's component set from the server; empty (take everything) when the answer
/// does not say, or is not a readable multistatus: the PUT then finds out.
async fn ask(s: &DavStorage, coll: &Url) -> Vec<String> {
    let resp = match s.dav(coll, proto::supported_components_request()).await {
        Ok(r) if r.status.as_u16() == 207 => r,
        Ok(r) => {
            tracing::debug!("{}: component set not available", r.describe());
            return Vec::new();
        }
        Err(e) => {
            tracing::debug!("{coll}: component set not available ({e})");
            return Vec::new();
        }
    };
    let infos = match proto::parse_collections(&resp.body, &resp.url) {
        Ok(i) => i,
        Err(e) => {
            tracing::debug!("{}: component set not readable ({e})", resp.describe());
            return Vec::new();
        }
    };
    let target = proto::canonical_path(coll.path());
    infos
        .into_iter()
        .find(|i| i.href.trim_end_matches('/') == target.trim_end_matches('/'))
        .map(|i| i.components)
        .unwrap_or_default()
}
