//! Which change token a home-set listing asks for, on a server (Radicale) whose `sync-token`
//! property costs more than its `getctag`: the listing asks for the ctag, the storage keeps
//! it next to the sync token, and an unchanged ctag costs no request beyond the listing.

use crate::dav_support;

use std::sync::{Arc, Mutex};

use dav_support::*;
use davsync_storages::dav::DavStorage;
use davsync_storages::remember::{InMemory, Remember};
use davsync_storages::{Collection, CollectionToken, Ctag, ItemKind, Storage, SyncToken};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SYNC_PREFIX: &str = "http://radicale.org/ns/sync/";

/// The collection's state: the hash both its tokens derive from, as on Radicale.
type State = Arc<Mutex<String>>;

fn run(server: &MockServer, store: &Arc<InMemory>) -> DavStorage {
    let mut o = opts(server, "/", ItemKind::Calendar);
    o.transport.remember = Some(store.clone() as Arc<dyn Remember>);
    DavStorage::new(o).unwrap()
}

/// A server whose root is the principal `/u/`, its own home set, holding calendar `cal`;
/// the listing carries only the tokens it was asked for, and the sync-collection REPORT
/// answers with the current token and no changes.
async fn mount(server: &MockServer, state: State) {
    Mock::given(method("PROPFIND"))
        .and(path("/"))
        .and(body_string_contains("current-user-principal"))
        .respond_with(ms(principal_answer("/", "d:current-user-principal", "/u/")))
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path("/u/"))
        .and(body_string_contains("calendar-home-set"))
        .respond_with(ms(principal_answer("/u/", "c:calendar-home-set", "/u/")))
        .mount(server)
        .await;
    let listed = state.clone();
    Mock::given(method("PROPFIND"))
        .and(path("/u/"))
        .and(wiremock::matchers::header("depth", "1"))
        .respond_with(move |req: &Request| {
            let asked = String::from_utf8_lossy(&req.body).into_owned();
            let hash = listed.lock().unwrap().clone();
            let mut props = String::new();
            if asked.contains("sync-token") {
                props.push_str(&format!("<d:sync-token>{SYNC_PREFIX}{hash}</d:sync-token>"));
            }
            if asked.contains("getctag") {
                props.push_str(&format!("<cs:getctag>\"{hash}\"</cs:getctag>"));
            }
            ms(format!(
                r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/">
                <d:response><d:href>/u/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype>
                </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
                <d:response><d:href>/u/cal/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/>
                </d:resourcetype>{props}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
                </d:multistatus>"#
            ))
        })
        .mount(server)
        .await;
    let own = state.clone();
    Mock::given(method("PROPFIND"))
        .and(path("/u/cal/"))
        .and(body_string_contains("getctag"))
        .respond_with(move |_: &Request| {
            let hash = own.lock().unwrap().clone();
            ms(format!(
                r#"<d:multistatus xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
                <d:response><d:href>/u/cal/</d:href><d:propstat><d:prop><cs:getctag>"{hash}"</cs:getctag>
                </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#
            ))
        })
        .mount(server)
        .await;
    Mock::given(method("REPORT"))
        .and(path("/u/cal/"))
        .respond_with(move |_: &Request| {
            let hash = state.lock().unwrap().clone();
            ms(format!(
                r#"<d:multistatus xmlns:d="DAV:"><d:sync-token>{SYNC_PREFIX}{hash}</d:sync-token></d:multistatus>"#
            ))
        })
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(9)
        .mount(server)
        .await;
}

/// The bodies of the requests since the last reset, as `METHOD path: body`.
async fn sent(server: &MockServer) -> Vec<String> {
    requests(server)
        .await
        .iter()
        .map(|r| {
            format!(
                "{} {}: {}",
                r.method,
                r.url.path(),
                String::from_utf8_lossy(&r.body)
            )
        })
        .collect()
}

async fn cal(s: &DavStorage) -> Collection {
    s.discover().await.unwrap().remove(0)
}

/// A new run against the server as `state` now has it: its storage and discovered calendar
/// (the requests are counted from here).
async fn next_run(
    server: &MockServer,
    state: &State,
    store: &Arc<InMemory>,
) -> (DavStorage, Collection) {
    server.reset().await;
    mount(server, state.clone()).await;
    let s = run(server, store);
    let c = cal(&s).await;
    (s, c)
}

fn sync(hash: &str) -> CollectionToken {
    CollectionToken::sync(format!("{SYNC_PREFIX}{hash}"))
}

fn both(hash: &str) -> CollectionToken {
    CollectionToken::SyncWithCtag {
        sync: SyncToken(format!("{SYNC_PREFIX}{hash}")),
        ctag: Ctag(format!("\"{hash}\"")),
    }
}

#[tokio::test]
async fn an_unchanged_ctag_in_the_listing_costs_no_report_and_a_moved_one_a_delta() {
    let server = MockServer::start().await;
    let state = State::new(Mutex::new("h1".into()));
    mount(&server, state.clone()).await;
    let store = Arc::new(InMemory::new());

    // First sync: discovery asks no token; the REPORT's token shows the expensive property.
    let s = run(&server, &store);
    let c = cal(&s).await;
    let first = s.changes(&c, None).await.unwrap().unwrap();
    assert_eq!(first.token, Some(sync("h1")));

    // Next run: the listing asks the ctag alone; the stored token has no ctag yet, so the
    // REPORT runs once more and the token keeps the listed ctag from now on.
    let (s, c) = next_run(&server, &state, &store).await;
    let second = s.changes(&c, first.token.as_ref()).await.unwrap().unwrap();
    let asked = sent(&server).await;
    assert!(
        asked[0].starts_with("PROPFIND /u/: ")
            && asked[0].contains("getctag")
            && !asked[0].contains("sync-token"),
        "{asked:?}"
    );
    assert_eq!(second.token, Some(both("h1")));

    // Unchanged: the listing is the only request.
    let (s, c) = next_run(&server, &state, &store).await;
    let third = s.changes(&c, second.token.as_ref()).await.unwrap().unwrap();
    assert_eq!(third.token, Some(both("h1")));
    assert!(third.changed.is_empty() && third.deleted.is_empty());
    assert_eq!(sent(&server).await.len(), 1, "{:?}", sent(&server).await);

    // Moved: the changes since the stored sync token, not a listing from scratch.
    *state.lock().unwrap() = "h2".into();
    let (s, c) = next_run(&server, &state, &store).await;
    let fourth = s.changes(&c, third.token.as_ref()).await.unwrap().unwrap();
    let asked = sent(&server).await;
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked[1].starts_with("REPORT /u/cal/: ")
            && asked[1].contains(&format!("<d:sync-token>{SYNC_PREFIX}h1</d:sync-token>")),
        "{asked:?}"
    );
    assert!(!fourth.complete);
    assert_eq!(fourth.token, Some(both("h2")));
}

#[tokio::test]
async fn a_token_stored_before_the_ctag_was_listed_is_still_compared_by_its_sync_token() {
    // A status written before listings asked the ctag holds a plain sync token: a listing
    // that carries the sync token still answers for it without a REPORT.
    let server = MockServer::start().await;
    let state = State::new(Mutex::new("h1".into()));
    mount(&server, state.clone()).await;
    let store = Arc::new(InMemory::new());
    let s = run(&server, &store);
    cal(&s).await;
    let (s, c) = next_run(&server, &state, &store).await;
    let asked = sent(&server).await;
    assert!(asked[0].contains("sync-token"), "{asked:?}");
    let same = s.changes(&c, Some(&sync("h1"))).await.unwrap().unwrap();
    assert_eq!(same.token, Some(sync("h1")));
    assert_eq!(sent(&server).await.len(), 1, "{:?}", sent(&server).await);
}

#[tokio::test]
async fn the_run_that_first_lists_the_expensive_sync_token_keeps_the_ctag_already() {
    // After a first sync that read the collection whole (no token kept, no REPORT), the
    // next listing asks the sync token and shows the expensive property: that run reads
    // the ctag before its REPORT, so the run after it is the listing alone.
    let server = MockServer::start().await;
    let state = State::new(Mutex::new("h1".into()));
    mount(&server, state.clone()).await;
    let store = Arc::new(InMemory::new());
    cal(&run(&server, &store)).await;

    let (s, c) = next_run(&server, &state, &store).await;
    let first = s.changes(&c, None).await.unwrap().unwrap();
    let asked = sent(&server).await;
    assert!(asked[0].contains("sync-token"), "{asked:?}");
    assert!(
        asked[1].starts_with("PROPFIND /u/cal/: ") && asked[1].contains("getctag"),
        "{asked:?}"
    );
    assert!(asked[2].starts_with("REPORT /u/cal/: "), "{asked:?}");
    assert_eq!(first.token, Some(both("h1")));

    let (s, c) = next_run(&server, &state, &store).await;
    let same = s.changes(&c, first.token.as_ref()).await.unwrap().unwrap();
    assert_eq!(same.token, Some(both("h1")));
    assert_eq!(sent(&server).await.len(), 1, "{:?}", sent(&server).await);
}
