//! Adaptive multiget batching: a batch the server refuses as too large (or that times out)
//! is split and retried, the smaller size is kept for the rest of the run, and one href the
//! server cannot serve fails alone.

use crate::dav_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dav_support::*;
use davsync_storages::dav::DavStorage;
use davsync_storages::{Collection, ErrorKind, Href, Item, ItemKind, Storage};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// MiniDav behind a limit: a multiget REPORT naming more than `limit` hrefs gets `refusal`
/// (or, with `slow`, an answer slower than the client's timeout); one naming `poison` gets a
/// 500, and so does a GET of it. Records the size of every multiget it answers.
#[derive(Clone)]
struct Limited {
    dav: MiniDav,
    limit: usize,
    refusal: u16,
    slow: bool,
    poison: Arc<Mutex<Option<String>>>,
    sizes: Arc<Mutex<Vec<(usize, u16)>>>,
}

impl Limited {
    fn new(limit: usize, refusal: u16) -> Limited {
        Limited {
            dav: MiniDav::default(),
            limit,
            refusal,
            slow: false,
            poison: Arc::default(),
            sizes: Arc::default(),
        }
    }

    fn take_sizes(&self) -> Vec<(usize, u16)> {
        std::mem::take(&mut *self.sizes.lock().unwrap())
    }
}

impl Respond for Limited {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let poisoned = |hrefs: &[String]| {
            self.poison
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|p| hrefs.iter().any(|h| h == p))
        };
        match req.method.as_str() {
            "REPORT" => {
                let hrefs = hrefs_in(&req.body);
                let status = if poisoned(&hrefs) {
                    500
                } else if hrefs.len() > self.limit {
                    self.refusal
                } else {
                    207
                };
                self.sizes.lock().unwrap().push((hrefs.len(), status));
                match status {
                    207 => self.dav.respond(req),
                    s if self.slow && s == self.refusal => {
                        self.dav.respond(req).set_delay(Duration::from_secs(3))
                    }
                    s => ResponseTemplate::new(s),
                }
            }
            "GET" if poisoned(&[req.url.path().to_owned()]) => ResponseTemplate::new(500),
            _ => self.dav.respond(req),
        }
    }
}

async fn setup(
    limited: &Limited,
    batch: usize,
    timeout: Duration,
) -> (MockServer, DavStorage, Collection) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(limited.clone())
        .mount(&server)
        .await;
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.multiget_batch = batch;
    o.transport.timeout = timeout;
    // One batch at a time, so the order of the batches is the order of the assertions.
    o.transport.max_connections = 1;
    let s = DavStorage::new(o).unwrap();
    let c = Collection {
        href: format!("{}/cal/", server.uri()),
        name: String::new(),
    };
    (server, s, c)
}

async fn upload(s: &DavStorage, c: &Collection, n: usize) -> Vec<Href> {
    let mut hrefs = Vec::new();
    for i in 0..n {
        let item = Item::parse(ItemKind::Calendar, ics(&format!("u{i}"))).unwrap();
        hrefs.push(s.upload(c, &item).await.unwrap().0);
    }
    hrefs
}

#[tokio::test]
async fn refused_batch_is_split_and_the_smaller_size_kept_for_the_run() {
    for refusal in [403, 413, 500, 507] {
        let server = Limited::new(3, refusal);
        let (_server, s, c) = setup(&server, 8, Duration::from_secs(10)).await;
        let hrefs = upload(&s, &c, 10).await;

        let got = s.get_many(&c, &hrefs).await.unwrap();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|(_, r)| r.is_ok()), "{refusal}: {got:?}");
        assert_eq!(
            server.take_sizes(),
            vec![
                (8, refusal),
                (4, refusal),
                (2, 207),
                (2, 207),
                (4, refusal),
                (2, 207),
                (2, 207),
                (2, 207)
            ],
            "answer {refusal}"
        );

        // The next read starts at the size that worked.
        s.get_many(&c, &hrefs).await.unwrap();
        assert_eq!(server.take_sizes(), vec![(2, 207); 5], "answer {refusal}");
    }
}

#[tokio::test]
async fn one_href_the_server_cannot_serve_fails_alone() {
    let server = Limited::new(100, 413);
    let (_server, s, c) = setup(&server, 8, Duration::from_secs(10)).await;
    let hrefs = upload(&s, &c, 6).await;
    *server.poison.lock().unwrap() = Some(hrefs[4].0.clone());

    let got = s.get_many(&c, &hrefs).await.unwrap();
    assert_eq!(got.len(), 6);
    for (href, r) in &got {
        if href == &hrefs[4] {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
        } else {
            assert!(r.is_ok(), "{href}: {r:?}");
        }
    }
    // Halved down to the bad href, which is tried alone with the usual retries (3 here).
    assert_eq!(
        server.take_sizes(),
        vec![
            (6, 500),
            (3, 207),
            (3, 500),
            (2, 500),
            (1, 207),
            (1, 500),
            (1, 500),
            (1, 500),
            (1, 207)
        ]
    );

    // One bad href says nothing about the batch size: the next read keeps the largest that
    // worked.
    *server.poison.lock().unwrap() = None;
    s.get_many(&c, &hrefs).await.unwrap();
    assert_eq!(server.take_sizes(), vec![(3, 207), (3, 207)]);
}

#[tokio::test]
async fn batch_that_times_out_is_split() {
    let mut server = Limited::new(2, 504);
    server.slow = true;
    let (_server, s, c) = setup(&server, 4, Duration::from_secs(1)).await;
    let hrefs = upload(&s, &c, 4).await;

    let got = s.get_many(&c, &hrefs).await.unwrap();
    assert!(got.iter().all(|(_, r)| r.is_ok()), "{got:?}");
    let sizes: Vec<usize> = server.take_sizes().into_iter().map(|(n, _)| n).collect();
    assert_eq!(sizes, vec![4, 2, 2]);
}

#[tokio::test]
async fn refused_whole_collection_query_falls_back_to_batches() {
    for refusal in [413, 500, 507] {
        let server = MockServer::start().await;
        let dav = MiniDav::default();
        Mock::given(wiremock::matchers::method("REPORT"))
            .and(wiremock::matchers::body_string_contains("calendar-query"))
            .respond_with(ResponseTemplate::new(refusal))
            .mount(&server)
            .await;
        Mock::given(wiremock::matchers::any())
            .respond_with(dav)
            .mount(&server)
            .await;
        let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
        let c = Collection {
            href: format!("{}/cal/", server.uri()),
            name: String::new(),
        };
        assert!(s.get_all(&c).await.unwrap().is_none(), "answer {refusal}");
        let queries = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "REPORT")
            .count();
        assert_eq!(queries, 1, "answer {refusal}: sent once, not retried");
    }
}

#[tokio::test]
async fn whole_collection_answer_cut_short_or_damaged_falls_back_to_batches() {
    let good = r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag><c:calendar-data>BEGIN:VCALENDAR
END:VCALENDAR
</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"#;
    for body in [
        good.to_owned(),
        format!("{good}<d:response><d:href>/cal/b.ics</d:hr"),
        format!(
            "{good}<d:response><d:href>/cal/b.ics</d:href><d:oops></d:response></d:multistatus>"
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("REPORT"))
            .and(wiremock::matchers::body_string_contains("calendar-query"))
            .respond_with(ResponseTemplate::new(207).set_body_raw(body.clone(), "application/xml"))
            .mount(&server)
            .await;
        let s = DavStorage::new(opts(&server, "/cal/", ItemKind::Calendar)).unwrap();
        let c = Collection {
            href: format!("{}/cal/", server.uri()),
            name: String::new(),
        };
        assert!(s.get_all(&c).await.unwrap().is_none(), "{body}");
    }
}
