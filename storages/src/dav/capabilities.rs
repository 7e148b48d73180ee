//! What a server is and supports, as `davsync check --online` reports it: asked with the same
//! requests a sync sends, plus the precondition probe on a scratch item.

use url::Url;

use super::guard::Preconditions;
use super::proto::{self, CalendarQuery, Component};
use super::storage::DavStorage;
use crate::error::Result;
use crate::item::ItemKind;
use crate::net::Request;

/// How davsync can tell a collection did not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeCheck {
    SyncCollection,
    Getctag,
    Neither,
}

impl ChangeCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeCheck::SyncCollection => "sync-collection",
            ChangeCheck::Getctag => "getctag",
            ChangeCheck::Neither => "neither (full listing each sync)",
        }
    }
}

/// One collection found by discovery.
#[derive(Debug, Clone)]
pub struct CollectionReport {
    pub url: String,
    pub changes: ChangeCheck,
}

/// Everything `check --online` prints for one storage.
#[derive(Debug, Clone)]
pub struct ServerReport {
    pub principal: Option<String>,
    pub homes: Vec<String>,
    pub collections: Vec<CollectionReport>,
    /// Calendars only: whether a time-range calendar-query is answered.
    pub time_range: Option<bool>,
    /// Whether the server announces MKCALENDAR (calendars) or MKCOL (address books) in its
    /// `Allow` header on the home set.
    pub creation: Option<bool>,
    /// `None` when there was no collection to probe in.
    pub preconditions: Option<Preconditions>,
    pub auth: Option<String>,
    pub http_version: Option<String>,
    /// What davsync does differently for this server.
    pub quirks: Vec<&'static str>,
}

impl DavStorage {
    /// Discovers and probes the server. Fails only where a sync would (unreachable server,
    /// refused credentials); every capability question answers for itself.
    pub async fn server_report(&self) -> Result<ServerReport> {
        let found = crate::storage::Storage::discover(self).await?;
        let mut collections: Vec<Url> = found
            .iter()
            .filter_map(|c| Url::parse(&c.href).ok())
            .collect();
        // A configured URL that is itself a collection is what a pair without `collections`
        // syncs: it comes first (and is where the probe goes).
        if self.root_is_collection().await {
            collections.retain(|c| c != self.root());
            collections.insert(0, self.root().clone());
        }
        let principal = self.principal_of_root().await;
        let homes = self.homes_found();
        let mut report = ServerReport {
            principal,
            homes: homes.iter().map(Url::to_string).collect(),
            collections: Vec::new(),
            time_range: None,
            creation: None,
            preconditions: None,
            auth: None,
            http_version: None,
            quirks: Vec::new(),
        };
        if homes.iter().any(|h| h.origin() != self.root().origin()) {
            report
                .quirks
                .push("home set on another host (iCloud): listed there with the same credentials");
        }
        for url in &collections {
            let changes = self.change_check(url).await?;
            if changes != ChangeCheck::SyncCollection {
                report
                    .quirks
                    .push("no sync-collection: changes seen through getctag or a full listing");
            }
            report.collections.push(CollectionReport {
                url: url.to_string(),
                changes,
            });
        }
        if let Some(home) = homes.first() {
            let resp = self
                .client()
                .send(&Request::new(crate::net::Method::OPTIONS, home.clone()))
                .await?;
            let allow = resp
                .header_str("allow")
                .unwrap_or_default()
                .to_ascii_uppercase();
            let method = match self.kind() {
                ItemKind::Calendar => "MKCALENDAR",
                ItemKind::Contacts => "MKCOL",
            };
            report.creation = Some(allow.split(',').any(|m| m.trim() == method));
        }
        if let Some(first) = collections.first() {
            if self.kind() == ItemKind::Calendar {
                let query = CalendarQuery {
                    component: Component::Event,
                    start: Some(chrono::Utc::now()),
                    end: Some(chrono::Utc::now() + chrono::Duration::days(1)),
                    with_data: false,
                };
                let resp = self
                    .dav(first, proto::calendar_query_request(&query))
                    .await?;
                report.time_range = Some(resp.status.as_u16() == 207);
            }
            let p = self.probe_preconditions(first).await?;
            if !p.enforced() {
                report
                    .quirks
                    .push("preconditions not enforced: etags checked by davsync before each write");
            }
            report.preconditions = Some(p);
        }
        report.quirks.dedup();
        report.auth = self.client().auth_scheme();
        report.http_version = self.client().http_version();
        Ok(report)
    }

    async fn change_check(&self, url: &Url) -> Result<ChangeCheck> {
        let resp = self
            .dav(url, proto::sync_collection_request(None, None))
            .await?;
        if resp.is_success()
            && proto::parse_sync_collection(&resp.body, &resp.url)
                .map(|r| r.token.is_some())
                .unwrap_or(false)
        {
            return Ok(ChangeCheck::SyncCollection);
        }
        let resp = self.dav(url, proto::ctag_request()).await?;
        let ctag =
            resp.is_success() && matches!(proto::parse_ctag(&resp.body, &resp.url), Ok(Some(_)));
        Ok(if ctag {
            ChangeCheck::Getctag
        } else {
            ChangeCheck::Neither
        })
    }

    async fn root_is_collection(&self) -> bool {
        let Ok(resp) = self.dav(self.root(), proto::collections_request("0")).await else {
            return false;
        };
        if !resp.is_success() {
            return false;
        }
        let own = proto::canonical_path(self.root().path());
        proto::parse_collections(&resp.body, &resp.url)
            .map(|infos| {
                infos.iter().any(|i| {
                    i.has_kind(self.kind())
                        && i.href.trim_end_matches('/') == own.trim_end_matches('/')
                })
            })
            .unwrap_or(false)
    }

    async fn principal_of_root(&self) -> Option<String> {
        let resp = self
            .dav(self.root(), proto::current_user_principal_request())
            .await
            .ok()?;
        if !resp.is_success() {
            return None;
        }
        let path = proto::parse_current_user_principal(&resp.body, &resp.url).ok()??;
        resp.url.join(&path).ok().map(|u| u.to_string())
    }
}
