//! Collections: discovery, creating one in the home set, deleting one, and their metadata
//! (PROPFIND/PROPPATCH of displayname, color, description).

use super::{invalid, DavStorage};
use crate::dav::discovery;
use crate::dav::proto::{self, MetaProp};
use crate::error::{Error, ErrorKind, Result};
use crate::item::ItemKind;
use crate::net::{self, Request, Target};
use crate::storage::{Collection, MetaKey};

impl DavStorage {
    pub(super) async fn discover_collections(&self) -> Result<Vec<Collection>> {
        let found = discovery::discover(self).await?;
        let _ = self.homes.set(found.homes);
        self.accepted.learn(found.components);
        *self.listed.lock().expect("listed tokens poisoned") = found.tokens;
        Ok(found
            .collections
            .into_iter()
            .map(|url| Collection {
                name: proto::href::last_segment(url.path()),
                href: url.to_string(),
            })
            .collect())
    }

    pub(super) async fn create_in_home(&self, name: &str) -> Result<Collection> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::new(
                ErrorKind::Config,
                format!("collection name {name:?} cannot be a URL path segment"),
            ));
        }
        let homes = self
            .homes
            .get_or_try_init(|| async { discovery::discover(self).await.map(|f| f.homes) })
            .await?;
        let home = homes.first().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "{}: no home set to create collection {name:?} in",
                    self.root
                ),
            )
        })?;
        let segment = proto::canonical_path(&format!("/{name}/"));
        let url = home.join(segment.trim_start_matches('/')).map_err(|e| {
            Error::new(ErrorKind::Config, format!("collection name {name:?}")).with_source(e)
        })?;
        let req = match self.kind {
            ItemKind::Calendar => proto::mkcalendar_request(None, &self.components),
            ItemKind::Contacts => proto::mkcol_addressbook_request(None),
        };
        let resp = self.dav(&url, req).await?;
        if !resp.is_success() {
            let e = resp.error(Target::Collection);
            let status = resp.status.as_u16();
            let kind = match status {
                405 => ErrorKind::AlreadyExists,
                501 => ErrorKind::Unsupported,
                _ => e.kind(),
            };
            let mut context = format!("creating collection {name:?}: {}", resp.describe());
            if status == 501 {
                context.push_str(&format!(
                    " (the server cannot create {}s; create it there by other means)",
                    kind_name(self.kind)
                ));
            }
            return Err(Error::new(kind, context));
        }
        Ok(Collection {
            href: url.to_string(),
            name: name.to_owned(),
        })
    }

    pub(super) async fn remove_collection(&self, collection: &Collection) -> Result<()> {
        let url = self.collection_url(collection)?;
        let resp = self
            .client
            .send(&Request::new(net::Method::DELETE, url))
            .await?;
        if resp.is_success() || resp.status.as_u16() == 404 {
            return Ok(());
        }
        Err(resp.error(Target::Collection))
    }

    pub(super) async fn read_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
    ) -> Result<Option<String>> {
        if MetaProp::for_key(key, self.kind).is_none() {
            return Ok(None);
        }
        let url = self.collection_url(collection)?;
        let resp = self
            .dav(&url, proto::collections_request("0"))
            .await?
            .ok(Target::Collection)?;
        let infos =
            proto::parse_collections(&resp.body, &resp.url).map_err(|e| invalid(&resp, e))?;
        let target = proto::canonical_path(url.path());
        let info = infos
            .iter()
            .find(|i| i.href.trim_end_matches('/') == target.trim_end_matches('/'))
            .or(infos.first());
        let Some(info) = info else {
            return Ok(None);
        };
        let value = info.meta(key).filter(|v| !v.is_empty());
        // Radicale answers a collection without a displayname with its path: that is no name
        // anyone gave it, and taking it as one would make the first metasync a conflict.
        if key == MetaKey::DisplayName && value.is_some_and(|v| proto::is_path_of(v, &target)) {
            return Ok(None);
        }
        Ok(value.map(str::to_owned))
    }

    pub(super) async fn write_meta(
        &self,
        collection: &Collection,
        key: MetaKey,
        value: Option<&str>,
    ) -> Result<()> {
        let Some(prop) = MetaProp::for_key(key, self.kind) else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("{} on a {} collection", key.as_str(), kind_name(self.kind)),
            ));
        };
        let url = self.collection_url(collection)?;
        let mut resp = self
            .dav(&url, proto::proppatch_request(&[(prop, value)]))
            .await?;
        if let (MetaProp::CalendarColor, Some(v), 400) = (prop, value, resp.status.as_u16()) {
            // SOGo takes colors as #RRGGBBAA only (400 "Bad color format"): the same color,
            // opaque.
            if v.len() == 7 && v.starts_with('#') {
                let opaque = format!("{v}FF");
                tracing::debug!("{}: sending the color as {opaque}", resp.describe());
                resp = self
                    .dav(&url, proto::proppatch_request(&[(prop, Some(&opaque))]))
                    .await?;
            }
        }
        if matches!(resp.status.as_u16(), 403 | 405 | 501) {
            // Calypso answers 501: the collection's properties cannot be changed at all.
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "setting {} of {url}: the server does not let collection properties be \
                     changed ({})",
                    key.as_str(),
                    resp.describe()
                ),
            ));
        }
        let resp = resp.ok(Target::Collection)?;
        if resp.status.as_u16() != 207 {
            return Ok(());
        }
        let statuses =
            proto::parse_proppatch(&resp.body, &resp.url).map_err(|e| invalid(&resp, e))?;
        if let Some(bad) = statuses.iter().find(|s| s.is(prop) && !s.is_success()) {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "setting {} of {url}: the server answered {}",
                    key.as_str(),
                    bad.status
                ),
            ));
        }
        Ok(())
    }
}

fn kind_name(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Calendar => "calendar",
        ItemKind::Contacts => "address book",
    }
}
