//! The read-only `http` storage: an iCalendar subscription (webcal feed) fetched with GET.
//!
//! The feed is one collection. Each item is identified by its UID (or, without one, its
//! content hash), so an event edited in the feed keeps its href and is updated in place on
//! the other side. The etag is the SHA-256 of the item's own bytes: an unchanged event keeps
//! its etag even when other events of the feed change.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use reqwest::header::ACCEPT;
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::item::{self, Item, ItemKind};
use crate::net::{Client, Method, Request, Target, TransportOptions};
use crate::storage::{Collection, Etag, Fetched, Href, ItemRef, MetaKey, Storage};

/// Configuration of an `http` storage.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `webcal://` and `webcals://` URLs are fetched over https.
    pub transport: TransportOptions,
}

/// A read-only iCalendar feed.
pub struct HttpStorage {
    client: Client,
    url: Url,
    /// The items of the last download, so `get_many` after `list` does not fetch the feed
    /// again.
    last: Mutex<Option<HashMap<Href, (Item, Etag)>>>,
}

impl std::fmt::Debug for HttpStorage {
    /// The URL only: the cached feed can be large.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStorage")
            .field("url", &self.url.as_str())
            .finish()
    }
}

/// `webcal://host/x.ics` -> `https://host/x.ics` (the url crate cannot change a non-special
/// scheme into a special one in place).
fn map_webcal(url: &Url) -> Result<Url> {
    let s = url.as_str();
    let mapped = ["webcal://", "webcals://"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
        .map(|rest| format!("https://{rest}"));
    match mapped {
        Some(m) => Url::parse(&m)
            .map_err(|e| Error::new(ErrorKind::Config, format!("url {s:?}")).with_source(e)),
        None => Ok(url.clone()),
    }
}

fn etag_of(item: &Item) -> Etag {
    Etag(hex::encode(Sha256::digest(item.raw())))
}

impl HttpStorage {
    pub fn new(opts: HttpOptions) -> Result<HttpStorage> {
        let mut transport = opts.transport;
        transport.url = map_webcal(&transport.url)?;
        let client = Client::new(&transport)?;
        let url = client.base_url().clone();
        Ok(HttpStorage {
            client,
            url,
            last: Mutex::new(None),
        })
    }

    /// Downloads and splits the feed.
    async fn fetch(&self) -> Result<HashMap<Href, (Item, Etag)>> {
        let req = Request::new(Method::GET, self.url.clone())
            .header(ACCEPT, "text/calendar, */*;q=0.5")?;
        let resp = self.client.send(&req).await?.ok(Target::Collection)?;
        // An empty body is no calendar at all (an empty feed still has its VCALENDAR): a
        // server hiccup must not read as "every event was removed".
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!("{}: empty response, not an iCalendar feed", resp.describe()),
            ));
        }
        let items = item::split(ItemKind::Calendar, &resp.body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidData,
                format!("{}: not an iCalendar feed", resp.describe()),
            )
            .with_source(e)
        })?;
        let mut out = HashMap::with_capacity(items.len());
        for item in items {
            let href = Href(item.ident().to_owned());
            let etag = etag_of(&item);
            out.insert(href, (item, etag));
        }
        *self.last.lock().expect("feed cache poisoned") = Some(out.clone());
        Ok(out)
    }

    fn read_only_error(&self, what: &str) -> Error {
        Error::new(ErrorKind::ReadOnly, format!("{what} in {}", self.url))
    }
}

#[async_trait]
impl Storage for HttpStorage {
    fn item_kind(&self) -> ItemKind {
        ItemKind::Calendar
    }

    fn read_only(&self) -> bool {
        true
    }

    async fn root_collection(&self) -> Result<Collection> {
        Ok(Collection {
            href: self.url.to_string(),
            name: String::new(),
        })
    }

    async fn discover(&self) -> Result<Vec<Collection>> {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{}: an http storage is a single feed; use it in a pair without `collections`",
                self.url
            ),
        ))
    }

    async fn list(&self, _collection: &Collection) -> Result<Vec<ItemRef>> {
        let items = self.fetch().await?;
        let mut refs: Vec<ItemRef> = items
            .into_iter()
            .map(|(href, (_, etag))| ItemRef { href, etag })
            .collect();
        refs.sort_by(|a, b| a.href.cmp(&b.href));
        Ok(refs)
    }

    async fn get_many(&self, _collection: &Collection, hrefs: &[Href]) -> Result<Vec<Fetched>> {
        let cached = self.last.lock().expect("feed cache poisoned").clone();
        let items = match cached {
            Some(items) if hrefs.iter().all(|h| items.contains_key(h)) => items,
            _ => self.fetch().await?,
        };
        Ok(hrefs
            .iter()
            .map(|h| {
                let r = items.get(h).cloned().ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("{h}: no longer in the feed {}", self.url),
                    )
                });
                (h.clone(), r)
            })
            .collect())
    }

    async fn get_all(&self, _collection: &Collection) -> Result<Option<Vec<Fetched>>> {
        let items = self.fetch().await?;
        let mut all: Vec<Fetched> = items.into_iter().map(|(h, v)| (h, Ok(v))).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(all))
    }

    async fn upload(&self, _collection: &Collection, item: &Item) -> Result<(Href, Etag)> {
        Err(self.read_only_error(&format!("uploading item {}", item.ident())))
    }

    async fn update(
        &self,
        _collection: &Collection,
        href: &Href,
        _item: &Item,
        _etag: &Etag,
    ) -> Result<Etag> {
        Err(self.read_only_error(&format!("updating item {href}")))
    }

    async fn delete(&self, _collection: &Collection, href: &Href, _etag: &Etag) -> Result<()> {
        Err(self.read_only_error(&format!("deleting item {href}")))
    }

    async fn set_meta(
        &self,
        _collection: &Collection,
        key: MetaKey,
        _value: Option<&str>,
    ) -> Result<()> {
        Err(self.read_only_error(&format!("setting {}", key.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webcal_is_fetched_over_https() {
        let u = map_webcal(&Url::parse("webcal://example.com/a/b.ics?x=1").unwrap()).unwrap();
        assert_eq!(u.as_str(), "https://example.com/a/b.ics?x=1");
        let u = map_webcal(&Url::parse("webcals://example.com/b.ics").unwrap()).unwrap();
        assert_eq!(u.as_str(), "https://example.com/b.ics");
        let u = map_webcal(&Url::parse("http://example.com/b.ics").unwrap()).unwrap();
        assert_eq!(u.as_str(), "http://example.com/b.ics");
    }
}
