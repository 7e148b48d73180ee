//! Finding the calendars or address books of the configured account.
//!
//! Where the home sets are (RFC 6764 §6, RFC 4791 §6.2.1, RFC 6352 §7.1.1), each step tried
//! only when the previous one found nothing:
//! 1. the configured URL answers `calendar-home-set`/`addressbook-home-set` itself (it is a
//!    principal);
//! 2. its `current-user-principal` does;
//! 3. `/.well-known/caldav` (or `carddav`) on the same host, redirects followed, leads to a
//!    principal that does;
//! 4. otherwise the configured URL is taken as the home set.
//!
//! The collections are then the members (PROPFIND Depth 1) of each home set whose
//! `resourcetype` is a calendar (address book).
//!
//! Remembered: the home sets and what was found in them are kept (through
//! [`Remember`](crate::remember::Remember)) so that later syncs skip steps 1-3, which cost
//! up to five round trips each time. The home-set listing itself is sent on every discovery:
//! it is what finds collections created or deleted on the server, and it carries each
//! collection's change token, so an unchanged collection costs no request of its own (see
//! [`DavStorage::changes`](crate::Storage::changes)). Everything is found out again when a
//! remembered home set no longer answers (404, 403, not a multistatus), when a collection
//! the listing named answers 404, when the application asks for it (`discover`), and at
//! least once a day.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use url::Url;

use super::proto::{self, CollectionInfo, Component, ListingTokens};
use super::storage::{as_collection_url, sync_token_property_is_expensive, DavStorage};
use crate::error::{Error, ErrorKind, Result};
use crate::item::ItemKind;
use crate::net::{Response, Target};

/// Remembered home sets are looked for again after this long, whatever they answer.
const REDISCOVER_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A listing made by one storage is used by the others of the same server for this long:
/// the storages of one sync discover at the same moment, while a later round (watch) must
/// see what changed since.
const LISTING_SHARED_FOR: Duration = Duration::from_secs(5);

pub(super) struct Found {
    pub homes: Vec<Url>,
    pub collections: Vec<Url>,
    /// The change tokens the listing carried, by collection URL.
    pub tokens: HashMap<String, ListedTokens>,
    /// Whether the listing asked for any token.
    asked_tokens: bool,
    /// What each calendar listed takes (`supported-calendar-component-set`; empty when it
    /// did not say), by collection URL.
    pub components: Vec<(String, Vec<String>)>,
}

/// One collection's change tokens as the home-set listing gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListedTokens {
    pub sync_token: Option<String>,
    pub ctag: Option<String>,
}

/// Which token later listings ask for: `sync-token` first, the next candidate when the
/// collections came without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum TokenProperty {
    SyncToken,
    Getctag,
    None,
}

/// What is kept between runs for one storage's account: never a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Remembered {
    /// Seconds since the Unix epoch of the last full discovery.
    found_at: u64,
    /// Where the home sets were read (the principal), if not the configured URL itself.
    principal: Option<String>,
    homes: Vec<String>,
    /// What the last listing found: URL and kinds of each collection.
    collections: Vec<RememberedCollection>,
    token_property: TokenProperty,
    /// The principal's scheduling inbox and outbox (RFC 6638), never synced as calendars.
    #[serde(default)]
    scheduling: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RememberedCollection {
    href: String,
    kinds: Vec<String>,
}

/// One home set's members, as one PROPFIND answered.
#[derive(Debug)]
pub struct Listing {
    url: Url,
    infos: Vec<CollectionInfo>,
}

type SharedCell = Arc<OnceCell<Arc<Listing>>>;

/// Home-set listings shared by the storages of one run: a calendar and an address book
/// storage on the same server usually share their home set (Radicale, Xandikos), and each
/// listing may make the server hash every item of every collection. One per process, handed
/// to every DAV storage ([`DavOptions::listings`](super::DavOptions::listings)).
#[derive(Debug, Default)]
pub struct SharedListings {
    cells: Mutex<HashMap<String, (Instant, SharedCell)>>,
}

impl SharedListings {
    pub fn new() -> Self {
        Self::default()
    }

    fn cell(&self, key: String) -> SharedCell {
        let mut cells = self.cells.lock().expect("listings poisoned");
        cells.retain(|_, (at, _)| at.elapsed() < LISTING_SHARED_FOR);
        cells
            .entry(key)
            .or_insert_with(|| (Instant::now(), Arc::new(OnceCell::new())))
            .1
            .clone()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The key of this storage's remembered discovery: kind, configured URL and user.
fn memory_key(s: &DavStorage) -> String {
    let kind = match s.kind() {
        ItemKind::Calendar => "caldav",
        ItemKind::Contacts => "carddav",
    };
    format!("discovery {kind} {} {}", s.root(), s.account())
}

fn recall(s: &DavStorage) -> Option<Remembered> {
    let store = s.remember()?;
    if !store.trust_recalled() {
        return None;
    }
    let text = store.recall(&memory_key(s))?;
    let r: Remembered = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("remembered discovery unreadable ({e}): discovering again");
            return None;
        }
    };
    let age = now_secs().saturating_sub(r.found_at);
    if age >= REDISCOVER_AFTER.as_secs() || r.homes.is_empty() {
        tracing::debug!(
            age_s = age,
            "remembered discovery too old: discovering again"
        );
        return None;
    }
    Some(r)
}

/// Makes later listings ask for the `getctag` rather than the `sync-token`: called when a
/// sync-collection answer shows a server whose `sync-token` property is the expensive one,
/// before any listing asked for a token (the first sync's listing asks none), so the next
/// run already lists the cheap token.
pub(super) fn prefer_ctag(s: &DavStorage) {
    let Some(mut r) = recall(s) else { return };
    if r.token_property != TokenProperty::SyncToken {
        return;
    }
    r.token_property = TokenProperty::Getctag;
    if let (Some(store), Ok(text)) = (s.remember(), serde_json::to_string(&r)) {
        store.keep(&memory_key(s), &text);
    }
}

/// Drops the remembered discovery: the next discovery starts from the configured URL.
pub(super) fn forget(s: &DavStorage) {
    if let Some(store) = s.remember() {
        store.forget(&memory_key(s));
    }
}

pub(super) async fn discover(s: &DavStorage) -> Result<Found> {
    if let Some(r) = recall(s) {
        let homes: Vec<Url> = r.homes.iter().filter_map(|h| Url::parse(h).ok()).collect();
        for h in &homes {
            s.client().trust_origin(h);
        }
        match list_homes(s, &homes, r.token_property, &r.scheduling).await {
            Ok(found) => {
                let property = next_token_property(r.token_property, &found);
                keep(s, r.found_at, r.principal, property, &r.scheduling, &found);
                return Ok(found);
            }
            // Credentials refused or the server unreachable: asking elsewhere would not help.
            Err(e) if matches!(e.kind(), ErrorKind::Auth | ErrorKind::Transport) => return Err(e),
            Err(e) => {
                tracing::debug!("remembered home set failed ({e}): discovering again");
                forget(s);
            }
        }
    }
    let mut scheduling = Vec::new();
    let (principal, homes) = find_homes(s, &mut scheduling).await?;
    // No token asked: a first sync has none to compare, and a server may compute a token by
    // reading every item of every collection (Radicale, cold: more than the request timeout
    // for a few thousand items on a busy machine). Later listings ask the sync token.
    let found = list_homes_with(s, &homes, ListingTokens::default(), &scheduling).await?;
    keep(
        s,
        now_secs(),
        principal.map(|p| p.to_string()),
        TokenProperty::SyncToken,
        &scheduling,
        &found,
    );
    Ok(found)
}

/// The token the next listing asks for: the one asked, unless the collections of our kind
/// came without it; then the next candidate (`sync-token`, then `getctag`, then none). A
/// server whose `sync-token` property costs more than its `getctag` is asked the `getctag`
/// (the storage keeps it next to the sync token, see `CollectionToken::SyncWithCtag`).
fn next_token_property(asked: TokenProperty, found: &Found) -> TokenProperty {
    if asked == TokenProperty::SyncToken
        && found.tokens.values().any(|t| {
            t.sync_token
                .as_deref()
                .is_some_and(sync_token_property_is_expensive)
        })
    {
        return TokenProperty::Getctag;
    }
    let carried = match asked {
        TokenProperty::SyncToken => found.tokens.values().any(|t| t.sync_token.is_some()),
        TokenProperty::Getctag => found.tokens.values().any(|t| t.ctag.is_some()),
        TokenProperty::None => true,
    };
    if carried || found.tokens.is_empty() || !found.asked_tokens {
        return asked;
    }
    match asked {
        TokenProperty::SyncToken => TokenProperty::Getctag,
        _ => TokenProperty::None,
    }
}

/// Keeps what discovery found; written only when it differs from what is kept, so an
/// unchanged server costs no write.
fn keep(
    s: &DavStorage,
    found_at: u64,
    principal: Option<String>,
    token_property: TokenProperty,
    scheduling: &[String],
    found: &Found,
) {
    let Some(store) = s.remember() else { return };
    let mut collections: Vec<RememberedCollection> = found
        .collections
        .iter()
        .map(|u| RememberedCollection {
            href: u.to_string(),
            kinds: vec![kind_name(s.kind()).to_owned()],
        })
        .collect();
    collections.sort_by(|a, b| a.href.cmp(&b.href));
    let record = Remembered {
        found_at,
        principal,
        homes: found.homes.iter().map(Url::to_string).collect(),
        collections,
        token_property,
        scheduling: scheduling.to_vec(),
    };
    let key = memory_key(s);
    match serde_json::to_string(&record) {
        Ok(text) if store.recall(&key).as_deref() != Some(text.as_str()) => store.keep(&key, &text),
        Ok(_) => {}
        Err(e) => tracing::debug!("discovery not remembered: {e}"),
    }
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Calendar => "calendar",
        ItemKind::Contacts => "addressbook",
    }
}

async fn list_homes(
    s: &DavStorage,
    homes: &[Url],
    property: TokenProperty,
    scheduling: &[String],
) -> Result<Found> {
    let wanted = s.compares_tokens();
    let tokens = ListingTokens {
        sync_token: wanted && property == TokenProperty::SyncToken,
        ctag: wanted && property == TokenProperty::Getctag,
    };
    list_homes_with(s, homes, tokens, scheduling).await
}

async fn list_homes_with(
    s: &DavStorage,
    homes: &[Url],
    tokens: ListingTokens,
    scheduling: &[String],
) -> Result<Found> {
    let mut found = Found {
        homes: homes.to_vec(),
        collections: Vec::new(),
        tokens: HashMap::new(),
        asked_tokens: tokens.sync_token || tokens.ctag,
        components: Vec::new(),
    };
    for (i, home) in homes.iter().enumerate() {
        let listing = match listing(s, home, tokens).await {
            Ok(l) => l,
            // A home set named on a host that cannot be reached (a server behind a proxy
            // naming its internal address) is tried at the same path where davsync was
            // pointed, as a path-only reading would have done.
            Err(e) if e.kind() == ErrorKind::Transport && home.origin() != s.root().origin() => {
                let mut here = s.root().clone();
                here.set_path(home.path());
                tracing::debug!("{e}; trying the home set at {here}");
                let l = listing(s, &here, tokens).await.map_err(|_| e)?;
                found.homes[i] = here;
                l
            }
            Err(e) => return Err(e),
        };
        let home_path = proto::canonical_path(listing.url.path());
        for info in &listing.infos {
            if !info.has_kind(s.kind())
                || info.href.trim_end_matches('/') == home_path.trim_end_matches('/')
                || (is_scheduling(&info.href, scheduling) && !info.typed_outbox)
            {
                continue;
            }
            if s.kind() == ItemKind::Calendar && !supports_any(info, s) {
                tracing::debug!(
                    href = %info.href,
                    "skipping a calendar that holds none of the configured item_types"
                );
                continue;
            }
            let Ok(url) = listing.url.join(&info.href) else {
                continue;
            };
            let url = as_collection_url(url);
            if !found.collections.contains(&url) {
                found.tokens.insert(
                    url.to_string(),
                    ListedTokens {
                        sync_token: info.sync_token.clone(),
                        ctag: info.ctag.clone(),
                    },
                );
                found
                    .components
                    .push((url.to_string(), info.components.clone()));
                found.collections.push(url);
            }
        }
    }
    Ok(found)
}

/// The members of one home set, from this storage or from another storage of the same
/// account that listed it moments ago.
async fn listing(s: &DavStorage, home: &Url, tokens: ListingTokens) -> Result<Arc<Listing>> {
    let fetch = || async {
        let resp = s
            .dav(home, proto::home_listing_request(tokens))
            .await?
            .ok(Target::Collection)?;
        let infos = proto::parse_collections(&resp.body, &resp.url)
            .map_err(|e| Error::new(ErrorKind::InvalidData, resp.describe()).with_source(e))?;
        Ok(Arc::new(Listing {
            url: resp.url,
            infos,
        }))
    };
    match s.listings() {
        Some(shared) => {
            let key = format!("{home} {} {tokens:?}", s.account());
            shared.cell(key).get_or_try_init(fetch).await.cloned()
        }
        None => fetch().await,
    }
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

/// The home sets, and the principal they were read from (`None`: the configured URL). The
/// scheduling inbox and outbox named on the way are added to `scheduling`.
async fn find_homes(
    s: &DavStorage,
    scheduling: &mut Vec<String>,
) -> Result<(Option<Url>, Vec<Url>)> {
    let root = s.root().clone();
    if let Some(homes) = home_sets(s, &root, scheduling).await? {
        return Ok((None, homes));
    }
    if let Some(principal) = principal(s, &root).await? {
        if let Some(homes) = home_sets(s, &principal, scheduling).await? {
            return Ok((Some(principal), homes));
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
            return Ok((Some(principal), homes));
        }
    }
    tracing::debug!(url = %root, "no principal or home set found; using the URL as the home set");
    Ok((None, vec![root]))
}

/// A discovery answer worth reading, `None` for one that only says "not here", an error for
/// credentials refused or a server failing.
fn usable(resp: Response) -> Result<Option<Response>> {
    if resp.is_success() {
        return Ok(Some(resp));
    }
    // A server still busy after the retries (429, Google's 403 `usageLimits`) said nothing
    // about where the home sets are: going on would take the wrong URL for one.
    if crate::net::is_rate_limited(resp.status, &resp.body) {
        return Err(resp.error(Target::Collection));
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
    // Full URLs: a home set may be on another host (iCloud's per-user `pNN-caldav`).
    let urls = match proto::parse_home_set_urls(s.kind(), &resp.body, &resp.url) {
        Ok(u) => u,
        Err(e) => {
            tracing::debug!("{}: {e} (discovery continues)", resp.describe());
            return Ok(None);
        }
    };
    scheduling.extend(proto::parse_scheduling_urls(&resp.body, &resp.url).unwrap_or_default());
    let homes: Vec<Url> = urls
        .into_iter()
        .map(|u| home_url(u, &resp.url))
        .map(as_collection_url)
        .collect();
    for h in &homes {
        s.client().trust_origin(h);
    }
    Ok((!homes.is_empty()).then_some(homes))
}

/// Where a home set named `named` in an answer from `answered` is listed: on its own host
/// (iCloud's per-user `pNN-caldav.icloud.com`), unless that would leave https for plain
/// http, where no credentials may follow; then at its path on the host that answered (a
/// server behind a TLS proxy naming its internal `http://` address).
fn home_url(named: Url, answered: &Url) -> Url {
    let downgrade = answered.scheme() == "https" && named.scheme() != "https";
    if named.origin() == answered.origin() || !downgrade {
        return named;
    }
    let mut here = answered.clone();
    here.set_path(named.path());
    here
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_home_set_on_another_https_host_is_listed_there() {
        let home = home_url(
            url("https://p42-caldav.icloud.com/123456/calendars/"),
            &url("https://caldav.icloud.com/123456/principal/"),
        );
        assert_eq!(
            home.as_str(),
            "https://p42-caldav.icloud.com/123456/calendars/"
        );
    }

    #[test]
    fn a_home_set_named_over_plain_http_behind_https_stays_on_the_answering_host() {
        let home = home_url(
            url("http://10.0.0.5:8080/dav/calendars/alice/"),
            &url("https://dav.example.com/dav/principals/alice/"),
        );
        assert_eq!(
            home.as_str(),
            "https://dav.example.com/dav/calendars/alice/"
        );
    }
}
