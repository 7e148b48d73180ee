//! Shared helpers for the DAV/http storage tests: options pointing at a mock server, literal
//! multistatus answers, and a tiny stateful DAV server for round trips.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use davsync_storages::dav::DavOptions;
use davsync_storages::net::{RetryPolicy, TransportOptions};
use davsync_storages::{Collection, Item, ItemKind};
use url::Url;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

pub const PASSWORD: &str = "hunter2-very-secret";
/// The Basic header for alice and [`PASSWORD`].
pub const BASIC: &str = "Basic YWxpY2U6aHVudGVyMi12ZXJ5LXNlY3JldA==";

/// An error as the user reads it: its own text, then each cause.
pub fn chain(e: &davsync_storages::Error) -> String {
    let mut text = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        text.push_str(&format!(": {c}"));
        cur = c.source();
    }
    text
}

/// Transport options for `path` on the mock server, with credentials and a tiny backoff.
pub fn transport(server_uri: &str, path: &str) -> TransportOptions {
    let url = Url::parse(&format!("{server_uri}{path}")).unwrap();
    let mut t = TransportOptions::new(url);
    t.username = Some("alice".into());
    t.password = Some(PASSWORD.into());
    t.timeout = Duration::from_secs(10);
    t.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    };
    t
}

/// Storage options for `path` on the mock server. The precondition probe is off: these mocks
/// answer every PUT alike and count them (dav_server_quirks.rs tests the probe).
pub fn opts(server: &MockServer, path: &str, kind: ItemKind) -> DavOptions {
    let mut o = DavOptions::new(transport(&server.uri(), path), kind);
    o.verify_preconditions = false;
    o
}

/// A 207 answer with this XML body.
pub fn ms(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(207)
        .set_body_raw(body.into().into_bytes(), "application/xml; charset=utf-8")
}

/// The collection at `path` on the mock server.
pub fn collection(server: &MockServer, path: &str) -> Collection {
    Collection {
        href: format!("{}{path}", server.uri()),
        name: String::new(),
    }
}

/// Every request the mock server received, in order.
pub async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// An event with this UID, parsed.
pub fn item(uid: &str) -> Item {
    Item::parse(ItemKind::Calendar, ics(uid)).unwrap()
}

/// A PROPFIND answer for `p` carrying one href-valued property: `tag` (prefixed `d:`, `c:`
/// or `r:`) holding `value`.
pub fn principal_answer(p: &str, tag: &str, value: &str) -> String {
    format!(
        r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:r="urn:ietf:params:xml:ns:carddav">
        <d:response><d:href>{p}</d:href><d:propstat><d:prop><{tag}><d:href>{value}</d:href></{tag}>
        </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#
    )
}

/// A Depth 1 listing of `/cal/` with these member hrefs, each with the etag `"e-<href>"`.
pub fn listing(hrefs: &[&str]) -> String {
    let mut body = String::from(
        r#"<multistatus xmlns="DAV:"><response><href>/cal/</href><propstat><prop>
        <resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status>
        </propstat></response>"#,
    );
    for h in hrefs {
        body.push_str(&format!(
            r#"<response><href>{h}</href><propstat><prop><getetag>"e-{h}"</getetag>
            <getcontenttype>text/calendar</getcontenttype><resourcetype/></prop>
            <status>HTTP/1.1 200 OK</status></propstat></response>"#
        ));
    }
    body.push_str("</multistatus>");
    body
}

pub fn ics(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davsync tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n\
         SUMMARY:test {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        n = uid.len()
    )
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The texts of every `<...:href>` element of a request body.
pub fn hrefs_in(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(i) = rest.find("href>") {
        let after = &rest[i + 5..];
        let end = after.find('<').unwrap_or(after.len());
        let value = after[..end].trim();
        // Closing tags (`</d:href>`) leave an empty value behind.
        if !value.is_empty() {
            out.push(value.replace("&amp;", "&"));
        }
        rest = &after[end..];
    }
    out
}

/// A minimal in-memory CalDAV collection at any path: PUT (If-None-Match / If-Match), GET,
/// DELETE, PROPFIND Depth 1 and multiget REPORT. Enough for round trips.
/// Path -> (etag, body).
type Store = HashMap<String, (String, Vec<u8>)>;

#[derive(Clone, Default)]
pub struct MiniDav {
    pub items: Arc<Mutex<Store>>,
    counter: Arc<Mutex<u64>>,
}

impl MiniDav {
    fn next_etag(&self) -> String {
        let mut c = self.counter.lock().unwrap();
        *c += 1;
        format!("\"v{c}\"")
    }
}

impl Respond for MiniDav {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let path = req.url.path().to_owned();
        let header = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        match req.method.as_str() {
            "PUT" => {
                let mut items = self.items.lock().unwrap();
                let current = items.get(&path).map(|(e, _)| e.clone());
                if header("if-none-match").as_deref() == Some("*") && current.is_some() {
                    return ResponseTemplate::new(412);
                }
                if let Some(want) = header("if-match") {
                    if current.as_deref() != Some(want.as_str()) {
                        return ResponseTemplate::new(412);
                    }
                }
                let etag = self.next_etag();
                items.insert(path, (etag.clone(), req.body.clone()));
                ResponseTemplate::new(201).insert_header("ETag", etag.as_str())
            }
            "GET" => match self.items.lock().unwrap().get(&path) {
                Some((etag, body)) => ResponseTemplate::new(200)
                    .insert_header("ETag", etag.as_str())
                    .set_body_raw(body.clone(), "text/calendar"),
                None => ResponseTemplate::new(404),
            },
            "DELETE" => {
                let mut items = self.items.lock().unwrap();
                match items.get(&path) {
                    None => ResponseTemplate::new(404),
                    Some((etag, _)) if header("if-match").as_deref() != Some(etag.as_str()) => {
                        ResponseTemplate::new(412)
                    }
                    Some(_) => {
                        items.remove(&path);
                        ResponseTemplate::new(204)
                    }
                }
            }
            "PROPFIND" => {
                let items = self.items.lock().unwrap();
                let mut body = String::from("<d:multistatus xmlns:d=\"DAV:\">");
                body.push_str(&format!(
                    "<d:response><d:href>{path}</d:href><d:propstat><d:prop><d:resourcetype>\
                     <d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK\
                     </d:status></d:propstat></d:response>"
                ));
                for (href, (etag, _)) in items.iter() {
                    body.push_str(&format!(
                        "<d:response><d:href>{}</d:href><d:propstat><d:prop><d:getetag>{}\
                         </d:getetag><d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK\
                         </d:status></d:propstat></d:response>",
                        xml_escape(href),
                        xml_escape(etag)
                    ));
                }
                body.push_str("</d:multistatus>");
                ms(body)
            }
            "REPORT" => {
                let items = self.items.lock().unwrap();
                let mut body = String::from(
                    "<d:multistatus xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">",
                );
                for href in hrefs_in(&req.body) {
                    match items.get(&href) {
                        Some((etag, data)) => body.push_str(&format!(
                            "<d:response><d:href>{}</d:href><d:propstat><d:prop><d:getetag>{}\
                             </d:getetag><c:calendar-data>{}</c:calendar-data></d:prop>\
                             <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
                            xml_escape(&href),
                            xml_escape(etag),
                            xml_escape(&String::from_utf8_lossy(data))
                        )),
                        None => body.push_str(&format!(
                            "<d:response><d:href>{}</d:href><d:status>HTTP/1.1 404 Not Found\
                             </d:status></d:response>",
                            xml_escape(&href)
                        )),
                    }
                }
                body.push_str("</d:multistatus>");
                ms(body)
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

/// Checks an RFC 7616 SHA-256 Digest answer for alice's password.
pub fn valid_digest(req: &Request) -> bool {
    use sha2::{Digest, Sha256};
    let Some(auth) = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(params) = auth.strip_prefix("Digest ") else {
        return false;
    };
    let mut p = std::collections::HashMap::new();
    for part in params.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            p.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
        }
    }
    let h = |s: String| hex::encode(Sha256::digest(s.as_bytes()));
    let ha1 = h(format!("alice:dav:{PASSWORD}"));
    let ha2 = h(format!("{}:{}", req.method, p["uri"]));
    let want = h(format!(
        "{ha1}:{}:{}:{}:{}:{ha2}",
        p["nonce"], p["nc"], p["cnonce"], p["qop"]
    ));
    p["username"] == "alice" && p["response"] == want
}
