//! Finding the calendars or address books of the configured account.
//!
//! Order (RFC 6764 §6, RFC 4791 §6.2.1, RFC 6352 §7.1.1), each step tried only when the
//! previous one found nothing:
//! 1. the configured URL answers `calendar-home-set`/`addressbook-home-set` itself (it is a
//!    principal);
//! 2. its `current-user-principal` does;
//! 3. `/.well-known/caldav` (or `carddav`) on the same host, redirects followed, leads to a
//!    principal that does;
//! 4. otherwise the configured URL is taken as the home set.
//!
//! The collections are then the members (PROPFIND Depth 1) of each home set whose
//! `resourcetype` is a calendar (address book).

use url::Url;

use super::proto::{self, Component};
use super::storage::{as_collection_url, DavStorage};
use crate::error::{Error, ErrorKind, Result};
use crate::item::ItemKind;
use crate::net::{Response, Target};

pub(super) struct Found {
    pub homes: Vec<Url>,
    pub collections: Vec<Url>,
}

pub(super) async fn discover(s: &DavStorage) -> Result<Found> {
    let mut scheduling = Vec::new();
    let homes = find_homes(s, &mut scheduling).await?;
    let mut collections: Vec<Url> = Vec::new();
    for home in &homes {
        let resp = s
            .dav(home, proto::collections_request("1"))
            .await?
            .ok(Target::Collection)?;
        let infos = proto::parse_collections(&resp.body, &resp.url)
            .map_err(|e| Error::new(ErrorKind::InvalidData, resp.describe()).with_source(e))?;
        let home_path = proto::canonical_path(resp.url.path());
        for info in infos {
            if !info.has_kind(s.kind())
                || info.href.trim_end_matches('/') == home_path.trim_end_matches('/')
                || (is_scheduling(&info.href, &scheduling) && !info.typed_outbox)
            {
                continue;
            }
            if s.kind() == ItemKind::Calendar && !supports_any(&info, s) {
                tracing::debug!(
                    href = %info.href,
                    "skipping a calendar that holds none of the configured item_types"
                );
                continue;
            }
            let Ok(url) = resp.url.join(&info.href) else {
                continue;
            };
            let url = as_collection_url(url);
            if !collections.contains(&url) {
                collections.push(url);
            }
        }
    }
    Ok(Found { homes, collections })
}

fn supports_any(info: &proto::CollectionInfo, s: &DavStorage) -> bool {
    let wanted = s.components();
    wanted.is_empty() || wanted.iter().any(|c: &Component| info.supports(*c))
}

/// True for the principal's scheduling inbox or outbox (RFC 6638), which DAViCal types as
/// calendars: syncing them would create `.in`/`.out` folders that can never be written back.
/// (A collection that types itself as outbox and calendar is SOGo's personal calendar, kept
/// by the caller.)
fn is_scheduling(href: &str, scheduling: &[String]) -> bool {
    scheduling
        .iter()
        .any(|p| p.trim_end_matches('/') == href.trim_end_matches('/'))
}

async fn find_homes(s: &DavStorage, scheduling: &mut Vec<String>) -> Result<Vec<Url>> {
    let root = s.root().clone();
    if let Some(homes) = home_sets(s, &root, scheduling).await? {
        return Ok(homes);
    }
    if let Some(principal) = principal(s, &root).await? {
        if let Some(homes) = home_sets(s, &principal, scheduling).await? {
            return Ok(homes);
        }
    }
    let well_known = match s.kind() {
        ItemKind::Calendar => "/.well-known/caldav",
        ItemKind::Contacts => "/.well-known/carddav",
    };
    let wk = root.join(well_known).map_err(|e| {
        Error::new(ErrorKind::Config, format!("{root}: {well_known}")).with_source(e)
    })?;
    if let Some(principal) = principal(s, &wk).await? {
        if let Some(homes) = home_sets(s, &principal, scheduling).await? {
            return Ok(homes);
        }
    }
    tracing::debug!(url = %root, "no principal or home set found; using the URL as the home set");
    Ok(vec![root])
}

/// A discovery answer worth reading, `None` for one that only says "not here", an error for
/// credentials refused or a server failing.
fn usable(resp: Response) -> Result<Option<Response>> {
    if resp.is_success() {
        return Ok(Some(resp));
    }
    match resp.status.as_u16() {
        401 | 500..=599 => Err(resp.error(Target::Collection)),
        _ => {
            tracing::debug!("{} (discovery continues)", resp.describe());
            Ok(None)
        }
    }
}

async fn home_sets(
    s: &DavStorage,
    url: &Url,
    scheduling: &mut Vec<String>,
) -> Result<Option<Vec<Url>>> {
    let Some(resp) = usable(s.dav(url, proto::home_set_request(s.kind())).await?)? else {
        return Ok(None);
    };
    let paths = match proto::parse_home_sets(s.kind(), &resp.body, &resp.url) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!("{}: {e} (discovery continues)", resp.describe());
            return Ok(None);
        }
    };
    scheduling.extend(proto::parse_scheduling_urls(&resp.body, &resp.url).unwrap_or_default());
    let homes: Vec<Url> = paths
        .iter()
        .filter_map(|p| resp.url.join(p).ok())
        .map(as_collection_url)
        .collect();
    for h in &homes {
        s.client().trust_origin(h);
    }
    Ok((!homes.is_empty()).then_some(homes))
}

async fn principal(s: &DavStorage, url: &Url) -> Result<Option<Url>> {
    let Some(resp) = usable(s.dav(url, proto::current_user_principal_request()).await?)? else {
        return Ok(None);
    };
    match proto::parse_current_user_principal(&resp.body, &resp.url) {
        Ok(Some(path)) => Ok(resp.url.join(&path).ok()),
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::debug!("{}: {e} (discovery continues)", resp.describe());
            Ok(None)
        }
    }
}
