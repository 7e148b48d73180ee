//! Conditional writes: PUT with `If-None-Match`/`If-Match`, DELETE with `If-Match`, and
//! the etag of what was just written.

use reqwest::header::{HeaderName, IF_MATCH, IF_NONE_MATCH};
use url::Url;

use super::{hash_etag, is_hash_etag, item_file_name, DavStorage};
use crate::dav::proto;
use crate::error::{Error, ErrorKind, Result};
use crate::item::Item;
use crate::net::{self, Request, Response, Target};
use crate::storage::{Collection, Etag, Href};

impl DavStorage {
    /// The `If-Match` value for a stored etag. A weak etag is sent as its strong form (a proxy
    /// may have weakened it; if the server's comparison fails, the 412 is reported, never
    /// overridden). A hash etag (the server gave none) is checked against a fresh GET and
    /// replaced by that response's `ETag`; without one there is no safe conditional write.
    async fn if_match(&self, url: &Url, etag: &Etag, what: &str) -> Result<String> {
        if is_hash_etag(etag) {
            let resp = self
                .client
                .send(&Request::new(net::Method::GET, url.clone()))
                .await?
                .ok(Target::ItemRead)
                .map_err(|e| prefixed(e, what))?;
            if hash_etag(&resp.body) != *etag {
                return Err(Error::new(
                    ErrorKind::PreconditionFailed,
                    format!("{what}: changed on the server since it was listed"),
                ));
            }
            let Some(real) = resp.etag() else {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!(
                        "{what}: the server gives no etag for it, so it cannot be written \
                         without risking a concurrent change"
                    ),
                ));
            };
            return strong(real, what);
        }
        strong(etag.as_str(), what)
    }

    /// The etag of what a PUT just stored: the response's `ETag`, else a PROPFIND Depth 0,
    /// else a GET (header, or the hash of the body as a listing would give).
    async fn etag_after_write(&self, url: &Url, resp: &Response) -> Result<Etag> {
        if let Some(e) = resp.etag() {
            return Ok(Etag(e.to_owned()));
        }
        let req = proto::list_request();
        let r = Request::dav(req.method, url.clone())
            .depth("0")
            .xml(req.body);
        let pf = self.client.send(&r).await?;
        if pf.status.as_u16() == 207 {
            if let Ok(entries) = proto::parse_list(&pf.body, &pf.url) {
                if let Some(etag) = entries.into_iter().find_map(|e| e.etag) {
                    return Ok(Etag(etag));
                }
            }
        }
        let href = Href(proto::canonical_path(url.path()));
        match self.get_raw(url, &href).await? {
            Ok((etag, _)) => Ok(etag),
            Err(f) => Err(Error::new(
                ErrorKind::InvalidData,
                format!("{url}: written, but reading its etag back failed ({f:?})"),
            )),
        }
    }

    pub(in crate::dav) async fn put(
        &self,
        url: &Url,
        item: &Item,
        condition: (HeaderName, &str),
    ) -> Result<Response> {
        let req = Request::new(net::Method::PUT, url.clone())
            .body(self.content_type(), item.raw().to_vec())
            .header(condition.0, condition.1)?;
        self.client.send(&req).await
    }

    pub(super) async fn upload_item(
        &self,
        collection: &Collection,
        item: &Item,
    ) -> Result<(Href, Etag)> {
        let coll = self.collection_url(collection)?;
        let name = item_file_name(item.ident(), self.ext());
        let url = coll.join(&name).map_err(|e| {
            Error::new(ErrorKind::InvalidData, format!("href {name}")).with_source(e)
        })?;
        let href = proto::canonical_path(url.path());
        let what = item_label(item, &href);
        crate::dav::accepts::check_upload(self, &self.accepted, &coll, item, &what).await?;
        self.guard_upload(&coll, &url, &what).await?;
        let resp = self.put(&url, item, (IF_NONE_MATCH, "*")).await?;
        if !resp.is_success() {
            // An item without a UID refused: the engine, which knows where the item comes
            // from, names the `davsync repair` to run.
            return Err(refused(&resp, Target::Upload, &what));
        }
        // A server may store the item elsewhere and say where.
        let (href, url) = match resp.location() {
            Some(loc) if loc.path() != url.path() => {
                let href = proto::canonical_path(loc.path());
                let url = self.item_url(&coll, &Href(href.clone()))?;
                (href, url)
            }
            _ => (href, url),
        };
        let etag = self
            .etag_after_write(&url, &resp)
            .await
            .map_err(|e| prefixed(e, &what))?;
        Ok((Href(href), etag))
    }

    pub(super) async fn update_item(
        &self,
        collection: &Collection,
        href: &Href,
        item: &Item,
        etag: &Etag,
    ) -> Result<Etag> {
        let coll = self.collection_url(collection)?;
        let url = self.item_url(&coll, href)?;
        let what = item_label(item, href.as_str());
        let condition = self.if_match(&url, etag, &what).await?;
        self.guard_overwrite(&coll, &url, &condition, &what).await?;
        let resp = self.put(&url, item, (IF_MATCH, &condition)).await?;
        if !resp.is_success() {
            return Err(refused(&resp, Target::ItemWrite, &what));
        }
        self.etag_after_write(&url, &resp)
            .await
            .map_err(|e| prefixed(e, &what))
    }

    pub(super) async fn delete_item(
        &self,
        collection: &Collection,
        href: &Href,
        etag: &Etag,
    ) -> Result<()> {
        let coll = self.collection_url(collection)?;
        let url = self.item_url(&coll, href)?;
        let what = format!("item {href}");
        let condition = self.if_match(&url, etag, &what).await?;
        self.guard_overwrite(&coll, &url, &condition, &what).await?;
        let req = Request::new(net::Method::DELETE, url).header(IF_MATCH, &condition)?;
        let resp = self.client.send(&req).await?;
        if !resp.is_success() {
            return Err(refused(&resp, Target::ItemWrite, &what));
        }
        Ok(())
    }
}

/// The error for a write the server did not take, with the reason its error body gives
/// (a read-only calendar, a component it does not store), when it gives one.
fn refused(resp: &Response, target: Target, what: &str) -> Error {
    let note = proto::refusal_note(&resp.body);
    net::response_error(resp, target, format!("{what}: {}{note}", resp.describe()))
}

fn prefixed(e: Error, what: &str) -> Error {
    let kind = e.kind();
    let context = format!("{what}: {}", e.context());
    let label = e.label();
    let out = match std::error::Error::source(&e) {
        Some(_) => Error::new(kind, context).with_source(e),
        None => Error::new(kind, context),
    };
    match label {
        Some(l) => out.labelled(l),
        None => out,
    }
}

pub(super) fn strong(etag: &str, what: &str) -> Result<String> {
    let t = etag.trim();
    let t = t
        .strip_prefix("W/")
        .or_else(|| t.strip_prefix("w/"))
        .unwrap_or(t);
    proto::if_match_value(t).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{what}: etag {etag:?} cannot be sent in If-Match"),
        )
    })
}

fn item_label(item: &Item, href: &str) -> String {
    match item.uid() {
        Some(uid) => format!("item {uid} ({href})"),
        None => format!("item without UID {} ({href})", item.ident()),
    }
}
