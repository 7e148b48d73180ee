//! What DAV storages remember between runs (through `Remember`): the auth scheme a server
//! asked for, and where discovery found the collections; and how they fall back when the
//! server no longer agrees. Each "run" is a fresh storage sharing the store of the last.

use crate::dav_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use dav_support::*;
use davsync_storages::dav::{DavStorage, SharedListings};
use davsync_storages::net::{AuthMode, PasswordRefresh, Secret};
use davsync_storages::remember::{InMemory, Remember};
use davsync_storages::{Collection, CollectionToken, ErrorKind, ItemKind, Storage};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn run(server: &MockServer, store: &Arc<InMemory>, kind: ItemKind) -> DavStorage {
    let mut o = opts(server, "/", kind);
    o.transport.remember = Some(store.clone() as Arc<dyn Remember>);
    DavStorage::new(o).unwrap()
}

/// `METHOD path` of each request since the last reset, with `+depth` for PROPFINDs.
async fn sent(server: &MockServer) -> Vec<String> {
    requests(server)
        .await
        .iter()
        .map(|r| {
            let depth = r
                .headers
                .get("depth")
                .map(|d| format!(" depth {}", d.to_str().unwrap()))
                .unwrap_or_default();
            format!("{} {}{depth}", r.method, r.url.path())
        })
        .collect()
}

/// A home set listing: `(name, sync token)` calendars, plus one address book.
fn listing(home: &str, calendars: &[(&str, &str)]) -> String {
    let mut out = format!(
        r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:r="urn:ietf:params:xml:ns:carddav">
        <d:response><d:href>{home}</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype>
        </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
        <d:response><d:href>{home}contacts/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><r:addressbook/>
        </d:resourcetype><d:sync-token>card-1</d:sync-token></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"#
    );
    for (name, token) in calendars {
        out.push_str(&format!(
            r#"<d:response><d:href>{home}{name}/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/>
            </d:resourcetype><d:sync-token>{token}</d:sync-token></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"#
        ));
    }
    out.push_str("</d:multistatus>");
    out
}

type Listing = Arc<Mutex<String>>;

/// A server whose root names principal `/alice/`, which is its own home set; the listing
/// of `/alice/` is whatever `listing` holds when asked.
async fn mount_account(server: &MockServer, home: &str, listing: Listing) {
    Mock::given(method("PROPFIND"))
        .and(path("/"))
        .and(body_string_contains("current-user-principal"))
        .respond_with(ms(principal_answer("/", "d:current-user-principal", home)))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path(home))
        .and(body_string_contains("calendar-home-set"))
        .respond_with(ms(principal_answer(home, "c:calendar-home-set", home)))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path(home))
        .and(body_string_contains("addressbook-home-set"))
        .respond_with(ms(principal_answer(home, "r:addressbook-home-set", home)))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .and(path(home))
        .and(header("depth", "1"))
        .respond_with(move |_: &Request| ms(listing.lock().unwrap().clone()))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(9)
        .mount(server)
        .await;
}

fn names(found: &[Collection]) -> Vec<&str> {
    let mut v: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_remembered_discovery_is_used_without_the_principal_and_home_set_requests() {
    let server = MockServer::start().await;
    let list = Listing::new(Mutex::new(listing("/alice/", &[("work", "w-1")])));
    mount_account(&server, "/alice/", list).await;
    let store = Arc::new(InMemory::new());

    let first = run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();
    assert_eq!(names(&first), vec!["work"]);
    assert!(sent(&server).await.len() >= 3, "{:?}", sent(&server).await);
    // Nothing kept holds the password.
    for (_, value) in store.snapshot() {
        assert!(!value.contains(PASSWORD), "{value}");
    }

    server.reset().await;
    let list = Listing::new(Mutex::new(listing("/alice/", &[("work", "w-1")])));
    mount_account(&server, "/alice/", list).await;
    let second = run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();
    assert_eq!(second, first);
    assert_eq!(sent(&server).await, vec!["PROPFIND /alice/ depth 1"]);
    // The listing asks only what the sync uses: no getctag next to the sync token.
    let body = String::from_utf8(requests(&server).await[0].body.clone()).unwrap();
    assert!(
        body.contains("sync-token") && !body.contains("getctag"),
        "{body}"
    );
}

#[tokio::test]
async fn a_collection_created_on_the_server_appears_at_the_next_discovery() {
    let server = MockServer::start().await;
    let list = Listing::new(Mutex::new(listing("/alice/", &[("work", "w-1")])));
    mount_account(&server, "/alice/", list.clone()).await;
    let store = Arc::new(InMemory::new());
    run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();

    *list.lock().unwrap() = listing("/alice/", &[("work", "w-1"), ("new", "n-1")]);
    let found = run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();
    assert_eq!(names(&found), vec!["new", "work"]);
}

#[tokio::test]
async fn an_unchanged_collection_costs_no_request_and_a_moved_token_one_report() {
    let server = MockServer::start().await;
    let list = Listing::new(Mutex::new(listing(
        "/alice/",
        &[("work", "w-1"), ("home", "h-2")],
    )));
    mount_account(&server, "/alice/", list).await;
    Mock::given(method("REPORT"))
        .and(path("/alice/home/"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:"><d:sync-token>h-2</d:sync-token></d:multistatus>"#,
        ))
        .mount(&server)
        .await;
    let store = Arc::new(InMemory::new());
    run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();
    // The first discovery asks no token (a first sync has none to compare); later ones do.
    let s = run(&server, &store, ItemKind::Calendar);
    let found = s.discover().await.unwrap();
    let asked = requests(&server).await.last().unwrap().body.clone();
    assert!(String::from_utf8(asked).unwrap().contains("sync-token"));
    server.reset().await;
    Mock::given(method("REPORT"))
        .and(path("/alice/home/"))
        .respond_with(ms(
            r#"<d:multistatus xmlns:d="DAV:"><d:sync-token>h-2</d:sync-token></d:multistatus>"#,
        ))
        .mount(&server)
        .await;
    let by = |n: &str| found.iter().find(|c| c.name == n).unwrap().clone();

    let same = s
        .changes(&by("work"), Some(&CollectionToken::sync("w-1")))
        .await
        .unwrap()
        .unwrap();
    assert!(same.changed.is_empty() && same.deleted.is_empty());
    assert_eq!(same.token, Some(CollectionToken::sync("w-1")));
    assert!(sent(&server).await.is_empty(), "{:?}", sent(&server).await);

    let moved = s
        .changes(&by("home"), Some(&CollectionToken::sync("h-1")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.token, Some(CollectionToken::sync("h-2")));
    // Straight to the REPORT: the listing already said the token moved.
    assert_eq!(sent(&server).await, vec!["REPORT /alice/home/ depth 0"]);
}

#[tokio::test]
async fn a_remembered_home_set_that_vanished_is_found_again() {
    let server = MockServer::start().await;
    let list = Listing::new(Mutex::new(listing("/alice/", &[("work", "w-1")])));
    mount_account(&server, "/alice/", list).await;
    let store = Arc::new(InMemory::new());
    run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();

    // The account moved: /alice/ is gone (404), the root now names /alice2/.
    server.reset().await;
    let list = Listing::new(Mutex::new(listing("/alice2/", &[("moved", "m-1")])));
    mount_account(&server, "/alice2/", list).await;
    let found = run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();
    assert_eq!(names(&found), vec!["moved"]);
    let reqs = sent(&server).await;
    assert_eq!(reqs[0], "PROPFIND /alice/ depth 1");
    assert!(
        reqs.contains(&"PROPFIND /alice2/ depth 1".to_owned()),
        "{reqs:?}"
    );
}

#[tokio::test]
async fn a_collection_answering_404_makes_the_next_run_discover_again() {
    let server = MockServer::start().await;
    let list = Listing::new(Mutex::new(listing("/alice/", &[("work", "w-1")])));
    mount_account(&server, "/alice/", list.clone()).await;
    Mock::given(method("REPORT"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let store = Arc::new(InMemory::new());
    let s = run(&server, &store, ItemKind::Calendar);
    let found = s.discover().await.unwrap();
    let err = s
        .changes(&found[0], Some(&CollectionToken::sync("w-0")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    server.reset().await;
    mount_account(&server, "/alice/", list).await;
    run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();
    let reqs = sent(&server).await;
    assert!(
        reqs.len() >= 3,
        "the principal was not looked for again: {reqs:?}"
    );
}

#[tokio::test]
async fn storages_of_one_account_share_one_listing_of_their_home_set() {
    let server = MockServer::start().await;
    let list = Listing::new(Mutex::new(listing("/alice/", &[("work", "w-1")])));
    mount_account(&server, "/alice/", list).await;
    let store = Arc::new(InMemory::new());
    let shared = Arc::new(SharedListings::new());
    let build = |kind| {
        let mut o = opts(&server, "/", kind);
        o.transport.remember = Some(store.clone() as Arc<dyn Remember>);
        o.listings = Some(shared.clone());
        DavStorage::new(o).unwrap()
    };
    let (cal, card) = (build(ItemKind::Calendar), build(ItemKind::Contacts));
    let (a, b) = futures::join!(cal.discover(), card.discover());
    assert_eq!(names(&a.unwrap()), vec!["work"]);
    assert_eq!(names(&b.unwrap()), vec!["contacts"]);
    let listings = sent(&server)
        .await
        .into_iter()
        .filter(|r| r.ends_with("depth 1"))
        .count();
    assert_eq!(listings, 1);
}

// ---------------------------------------------------------------------------------------
// Auth

async fn mount_basic(server: &MockServer) {
    Mock::given(method("PROPFIND"))
        .and(header("authorization", BASIC))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Basic realm=\"dav\""),
        )
        .with_priority(2)
        .mount(server)
        .await;
}

/// The scheme of each request's Authorization header, `-` for none, and its status.
async fn auth_log(server: &MockServer) -> Vec<String> {
    requests(server)
        .await
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().split(' ').next().unwrap().to_owned())
                .unwrap_or_else(|| "-".into())
        })
        .collect()
}

#[tokio::test]
async fn the_second_run_sends_credentials_with_its_first_request() {
    let server = MockServer::start().await;
    mount_basic(&server).await;
    let store = Arc::new(InMemory::new());
    run(&server, &store, ItemKind::Calendar)
        .list(&collection(&server, "/cal/"))
        .await
        .unwrap();
    assert_eq!(auth_log(&server).await, vec!["-", "Basic"]);
    for (_, value) in store.snapshot() {
        assert!(
            !value.contains(PASSWORD) && !value.contains(&BASIC[6..]),
            "{value}"
        );
    }

    server.reset().await;
    mount_basic(&server).await;
    run(&server, &store, ItemKind::Calendar)
        .list(&collection(&server, "/cal/"))
        .await
        .unwrap();
    assert_eq!(auth_log(&server).await, vec!["Basic"]);
}

#[tokio::test]
async fn a_refused_remembered_scheme_falls_back_to_the_challenge() {
    let server = MockServer::start().await;
    mount_basic(&server).await;
    let store = Arc::new(InMemory::new());
    run(&server, &store, ItemKind::Calendar)
        .list(&collection(&server, "/cal/"))
        .await
        .unwrap();

    // The server now wants Digest only.
    server.reset().await;
    Mock::given(method("PROPFIND"))
        .and(valid_digest)
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            "Digest realm=\"dav\", nonce=\"n0nce\", qop=\"auth\", algorithm=SHA-256",
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    run(&server, &store, ItemKind::Calendar)
        .list(&collection(&server, "/cal/"))
        .await
        .unwrap();
    assert_eq!(auth_log(&server).await, vec!["Basic", "Digest"]);

    // And the run after that answers with Digest straight away.
    server.reset().await;
    Mock::given(method("PROPFIND"))
        .and(valid_digest)
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .mount(&server)
        .await;
    run(&server, &store, ItemKind::Calendar)
        .list(&collection(&server, "/cal/"))
        .await
        .unwrap();
    assert_eq!(auth_log(&server).await, vec!["Digest"]);
}

struct Helper(AtomicUsize);

impl PasswordRefresh for Helper {
    fn refresh(&self) -> Result<Secret, String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok("fresh-token".into())
    }
}

#[tokio::test]
async fn an_expired_bearer_token_is_fetched_again_once() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .and(header("authorization", "Bearer fresh-token"))
        .respond_with(ms(r#"<d:multistatus xmlns:d="DAV:"/>"#))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", "Bearer realm=\"dav\""),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let helper = Arc::new(Helper(AtomicUsize::new(0)));
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.transport.auth = AuthMode::Bearer;
    o.transport.password = Some("expired-token".into());
    o.transport.refresh_password = Some(helper.clone());
    let s = DavStorage::new(o).unwrap();
    s.list(&collection(&server, "/cal/")).await.unwrap();
    s.list(&collection(&server, "/cal/")).await.unwrap();
    assert_eq!(helper.0.load(Ordering::SeqCst), 1);
    let tokens: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        tokens,
        vec![
            "Bearer expired-token",
            "Bearer fresh-token",
            "Bearer fresh-token"
        ]
    );
}

#[tokio::test]
async fn a_bearer_token_refused_again_after_a_fetch_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let helper = Arc::new(Helper(AtomicUsize::new(0)));
    let mut o = opts(&server, "/cal/", ItemKind::Calendar);
    o.transport.auth = AuthMode::Bearer;
    o.transport.refresh_password = Some(helper.clone());
    let s = DavStorage::new(o).unwrap();
    let err = s.list(&collection(&server, "/cal/")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(helper.0.load(Ordering::SeqCst), 1);
    assert_eq!(requests(&server).await.len(), 2);
}

/// A store as `davsync discover` hands it out: what it holds is not trusted, only replaced.
#[derive(Debug)]
struct Rediscovering(Arc<InMemory>);

impl Remember for Rediscovering {
    fn recall(&self, key: &str) -> Option<String> {
        self.0.recall(key)
    }
    fn keep(&self, key: &str, value: &str) {
        self.0.keep(key, value)
    }
    fn forget(&self, key: &str) {
        self.0.forget(key)
    }
    fn trust_recalled(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn discover_finds_everything_out_again_and_keeps_the_new_answer() {
    let server = MockServer::start().await;
    let list = Listing::new(Mutex::new(listing("/alice/", &[("work", "w-1")])));
    mount_account(&server, "/alice/", list.clone()).await;
    let store = Arc::new(InMemory::new());
    run(&server, &store, ItemKind::Calendar)
        .discover()
        .await
        .unwrap();
    let kept = store.snapshot();

    server.reset().await;
    mount_account(&server, "/alice/", list).await;
    let mut o = opts(&server, "/", ItemKind::Calendar);
    o.transport.remember = Some(Arc::new(Rediscovering(store.clone())));
    DavStorage::new(o).unwrap().discover().await.unwrap();
    let reqs = sent(&server).await;
    assert!(
        reqs.len() >= 3,
        "the principal was not looked for again: {reqs:?}"
    );
    assert_eq!(store.snapshot().len(), kept.len());
}
