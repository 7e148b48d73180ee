//! A second client that edits a server's items with plain HTTP requests (PUT, GET, DELETE,
//! PROPFIND, MKCALENDAR, MKCOL), the way another device would: the conformance scenarios use
//! it to change things behind davsync's back and to look at what davsync left on the server.
//!
//! It sends hand-written requests through the storages crate's HTTP client only for its
//! authentication (Basic and Digest) and connection handling; none of davsync's DAV logic
//! is involved.

use std::sync::Arc;
use std::time::Duration;

use davsync_storages::net::{Client, HeaderName, Method, Request, RetryPolicy, TransportOptions};
use davsync_storages::ErrorKind;
use url::Url;

/// One answer: status, `ETag` header, body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub body: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Clone)]
pub struct PlainHttp {
    client: Arc<Client>,
    rt: Arc<tokio::runtime::Runtime>,
}

impl PlainHttp {
    pub fn new(base: &str, username: &str, password: &str) -> PlainHttp {
        let mut t = TransportOptions::new(Url::parse(base).expect("base URL"));
        t.username = Some(username.to_owned());
        t.password = Some(password.into());
        t.timeout = Duration::from_secs(180);
        t.retry = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        t.max_connections = 3;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        PlainHttp {
            client: Arc::new(Client::new(&t).expect("HTTP client")),
            rt: Arc::new(rt),
        }
    }

    fn send(&self, req: Request) -> Answer {
        let client = self.client.clone();
        let what = format!("{} {}", req.method, req.url);
        // SOGo, loaded, sometimes resets a connection before answering: this stand-in for
        // another client tries such a request twice more, as a person's client would.
        let resp = self
            .rt
            .block_on(async move {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match client.send(&req).await {
                        Err(e) if attempt < 3 && e.kind() == ErrorKind::Transport => {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        other => break other,
                    }
                }
            })
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        Answer {
            status: resp.status.as_u16(),
            etag: resp.etag().map(str::to_owned),
            body: String::from_utf8_lossy(&resp.body).into_owned(),
        }
    }

    fn url(&self, url: &str) -> Url {
        Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    pub fn get(&self, url: &str) -> Answer {
        self.send(Request::new(Method::GET, self.url(url)))
    }

    /// PUT with an optional precondition header (`("If-Match", etag)`, `("If-None-Match", "*")`).
    pub fn put(
        &self,
        url: &str,
        content_type: &'static str,
        body: &str,
        cond: Option<(&str, &str)>,
    ) -> Answer {
        let mut req = Request::new(Method::PUT, self.url(url)).body(content_type, body.to_owned());
        if let Some((name, value)) = cond {
            let name = http_name(name);
            req = req.header(name, value).unwrap();
        }
        // One attempt: a write is the test's action, counted as such.
        self.send(req.attempts(1))
    }

    /// PUTs (`If-None-Match: *`) up to 3 at once (SOGo serves 3 requests at a time, and a
    /// loaded machine makes more wait past the timeout); the answers in the same order.
    pub fn put_many(&self, items: Vec<(String, &'static str, String)>) -> Vec<Answer> {
        use futures::StreamExt;
        let client = self.client.clone();
        let reqs: Vec<Request> = items
            .into_iter()
            .map(|(url, ct, body)| {
                Request::new(Method::PUT, self.url(&url))
                    .body(ct, body)
                    .header(http_name("If-None-Match"), "*")
                    .unwrap()
                    .attempts(1)
            })
            .collect();
        self.rt.block_on(async move {
            futures::stream::iter(reqs)
                .map(|r| {
                    let client = client.clone();
                    async move {
                        let resp = client
                            .send(&r)
                            .await
                            .unwrap_or_else(|e| panic!("PUT {}: {e:?}", r.url));
                        Answer {
                            status: resp.status.as_u16(),
                            etag: resp.etag().map(str::to_owned),
                            body: String::from_utf8_lossy(&resp.body).into_owned(),
                        }
                    }
                })
                .buffered(3)
                .collect()
                .await
        })
    }

    pub fn delete(&self, url: &str, if_match: Option<&str>) -> Answer {
        let mut req = Request::new(Method::DELETE, self.url(url));
        if let Some(e) = if_match {
            req = req.header(http_name("If-Match"), e).unwrap();
        }
        self.send(req.attempts(1))
    }

    pub fn propfind(&self, url: &str, depth: &'static str, body: &str) -> Answer {
        self.send(
            Request::dav("PROPFIND", self.url(url))
                .depth(depth)
                .xml(body.to_owned()),
        )
    }

    /// Any method with an optional XML body (MKCALENDAR, MKCOL, PROPPATCH, REPORT).
    pub fn dav(&self, method: &str, url: &str, body: Option<&str>) -> Answer {
        let mut req = Request::dav(method, self.url(url));
        if let Some(b) = body {
            req = req.xml(b.to_owned());
        }
        self.send(req.attempts(1))
    }

    /// The members of a collection: (href, etag) from a PROPFIND Depth 1, the collection
    /// itself left out.
    pub fn members(&self, collection: &str) -> Vec<(String, String)> {
        let a = self.propfind(
            collection,
            "1",
            r#"<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/><resourcetype/></prop></propfind>"#,
        );
        assert_eq!(a.status, 207, "PROPFIND {collection}: {}", a.body);
        let own = Url::parse(collection)
            .unwrap()
            .path()
            .trim_end_matches('/')
            .to_owned();
        responses(&a.body)
            .into_iter()
            .filter(|r| !r.is_collection && r.href.trim_end_matches('/') != own)
            .filter_map(|r| Some((r.href, r.etag?)))
            .collect()
    }
}

fn http_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap()
}

/// One `<response>` of a multistatus, read crudely (enough for what the servers send).
#[derive(Debug, Clone)]
pub struct MsResponse {
    /// Percent-decoded path.
    pub href: String,
    pub etag: Option<String>,
    pub is_collection: bool,
    /// The local names inside `<resourcetype>`.
    pub types: Vec<String>,
}

pub fn responses(body: &str) -> Vec<MsResponse> {
    let mut out = Vec::new();
    for chunk in split_elements(body, "response") {
        let href = match first_text(&chunk, "href") {
            Some(h) => h,
            None => continue,
        };
        let href = match Url::parse(&href) {
            Ok(u) => u.path().to_owned(),
            Err(_) => href,
        };
        let href = percent_decode(&href);
        let etag = first_text(&chunk, "getetag")
            .map(|e| e.replace("&quot;", "\""))
            .filter(|e| !e.is_empty());
        let types: Vec<String> = split_elements(&chunk, "resourcetype")
            .first()
            .map(|rt| {
                rt.split('<')
                    .skip(1)
                    .filter(|t| !t.starts_with('/'))
                    .map(|t| {
                        let name = t
                            .split(|c: char| c == '/' || c == '>' || c.is_whitespace())
                            .next()
                            .unwrap_or("");
                        name.rsplit(':').next().unwrap_or(name).to_owned()
                    })
                    .filter(|n| !n.is_empty() && n != "resourcetype")
                    .collect()
            })
            .unwrap_or_default();
        out.push(MsResponse {
            is_collection: types.iter().any(|t| t == "collection"),
            href,
            etag,
            types,
        });
    }
    out
}

/// The inner texts of every element with this local name (any prefix).
pub fn split_elements(body: &str, local: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = find_open(rest, local) {
        let after = &rest[start..];
        let Some(gt) = after.find('>') else { break };
        let inner = &after[gt + 1..];
        let Some(end) = find_close(inner, local) else {
            break;
        };
        out.push(inner[..end].to_owned());
        rest = &inner[end..];
    }
    out
}

fn find_open(s: &str, local: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find('<') {
        let at = from + i;
        let tag = &s[at + 1..];
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
            .collect();
        if !name.starts_with('/') && name.rsplit(':').next() == Some(local) && !tag.starts_with('/')
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn find_close(s: &str, local: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("</") {
        let at = from + i;
        let name: String = s[at + 2..]
            .chars()
            .take_while(|c| *c != '>' && !c.is_whitespace())
            .collect();
        if name.rsplit(':').next() == Some(local) {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

pub fn first_text(chunk: &str, local: &str) -> Option<String> {
    split_elements(chunk, local).into_iter().next().map(|t| {
        let t = t.trim();
        let t = t
            .strip_prefix("<![CDATA[")
            .and_then(|x| x.strip_suffix("]]>"))
            .unwrap_or(t);
        t.trim().to_owned()
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
