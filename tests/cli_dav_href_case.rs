//! Exchange through DavMail spells hrefs in the case Exchange stores, which changes between
//! listings (`/users/alice@...` or `/users/Alice@...`). Through the binary against an
//! in-test server: later syncs see the same items under new hrefs and change nothing: no
//! item is taken for deleted and new, nothing is written on either side.

mod cli_util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cli_util::Env;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const LOWER: &str = "/users/alice@example.com/calendar/";
const UPPER: &str = "/users/Alice@Example.com/calendar/";
const NAMES: [&str; 2] = ["AAMkADE1.EML", "AAMkADE2.EML"];

fn event(name: &str) -> String {
    let uid = name.trim_end_matches(".EML");
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davmail test//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\n\
         SUMMARY:meeting {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn multistatus(body: String) -> ResponseTemplate {
    ResponseTemplate::new(207).set_body_raw(
        format!(
            r#"<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">{body}</D:multistatus>"#
        ),
        "text/xml; charset=utf-8",
    )
}

/// A DavMail-like calendar of two events: every listing switches the case of the mailbox
/// part of the hrefs, a multiget answers in Exchange's case whatever was asked,
/// sync-collection is refused, and GETs and writes are counted (writes refused).
#[derive(Clone, Default)]
struct DavMail {
    listings: Arc<AtomicUsize>,
    gets: Arc<AtomicUsize>,
    writes: Arc<Mutex<Vec<String>>>,
}

impl DavMail {
    fn base(&self) -> &'static str {
        if self.listings.load(Ordering::SeqCst) % 2 == 0 {
            LOWER
        } else {
            UPPER
        }
    }

    fn with_data(&self, base: &str, names: &[&str]) -> ResponseTemplate {
        let body: String = names
            .iter()
            .map(|n| {
                format!(
                    "<D:response><D:href>{base}{n}</D:href><D:propstat><D:prop><D:getetag>\
                     \"{n}-1\"</D:getetag><C:calendar-data>{}</C:calendar-data></D:prop>\
                     <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                    escape(&event(n))
                )
            })
            .collect();
        multistatus(body)
    }
}

impl Respond for DavMail {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body = String::from_utf8_lossy(&req.body);
        let depth = req
            .headers
            .get("depth")
            .and_then(|d| d.to_str().ok())
            .unwrap_or("");
        match req.method.as_str() {
            "PROPFIND" if depth == "1" => {
                let n = self.listings.fetch_add(1, Ordering::SeqCst);
                let base = if n % 2 == 0 { UPPER } else { LOWER };
                let body: String = NAMES
                    .iter()
                    .map(|name| {
                        format!(
                            "<D:response><D:href>{base}{name}</D:href><D:propstat><D:prop>\
                             <D:getetag>\"{name}-1\"</D:getetag><D:getcontenttype>text/calendar; \
                             component=vevent</D:getcontenttype><D:resourcetype/></D:prop>\
                             <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
                        )
                    })
                    .collect();
                multistatus(body)
            }
            "PROPFIND" => multistatus(String::new()),
            "REPORT" if body.contains("sync-collection") => ResponseTemplate::new(403),
            // Exchange's own spelling, whatever was asked.
            "REPORT" if body.contains("calendar-multiget") => {
                let asked: Vec<&str> = NAMES.iter().copied().filter(|n| body.contains(n)).collect();
                self.with_data(UPPER, &asked)
            }
            "GET" => {
                self.gets.fetch_add(1, Ordering::SeqCst);
                let name = req.url.path().rsplit('/').next().unwrap_or_default();
                ResponseTemplate::new(200)
                    .insert_header("ETag", format!("\"{name}-1\"").as_str())
                    .set_body_raw(event(name).into_bytes(), "text/calendar")
            }
            "REPORT" => self.with_data(self.base(), &NAMES),
            m => {
                self.writes
                    .lock()
                    .unwrap()
                    .push(format!("{m} {}", req.url.path()));
                ResponseTemplate::new(403)
            }
        }
    }
}

async fn run(env: &Env, args: &[&str]) -> cli_util::Run {
    let mut c = env.command();
    c.arg("-c").arg(env.config_path()).args(args);
    tokio::task::spawn_blocking(move || c.output().expect("run davsync").into())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hrefs_changing_case_between_syncs_change_nothing() {
    let server = MockServer::start().await;
    let davmail = DavMail::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(davmail.clone())
        .mount(&server)
        .await;
    let env = Env::new();
    env.mkdir("local");
    env.config(&format!(
        "[storage.exchange]\ntype = \"caldav\"\nurl = \"{}{LOWER}\"\nusername = \"alice\"\n\
         password = \"secret\"\n\n\
         [storage.local]\ntype = \"vdir\"\npath = \"local\"\nfileext = \".ics\"\n\n\
         [pair.work]\na = \"local\"\nb = \"exchange\"\n",
        server.uri()
    ));
    let first = run(&env, &["sync"]).await;
    first.assert_code(0);
    let copied = env.items("local", ".ics");
    assert_eq!(copied.len(), 2, "{copied:?}");

    for round in 0..3 {
        let before = davmail.listings.load(Ordering::SeqCst);
        let again = run(&env, &["sync"]).await;
        again.assert_code(0);
        assert!(
            davmail.listings.load(Ordering::SeqCst) > before,
            "round {round}: the collection was not listed"
        );
        assert!(
            again
                .lines()
                .iter()
                .all(|l| !l.starts_with("Copying") && !l.starts_with("Deleting")),
            "round {round}: {:?}",
            again.lines()
        );
        assert_eq!(env.items("local", ".ics"), copied, "round {round}");
    }
    assert!(
        davmail.writes.lock().unwrap().is_empty(),
        "{:?}",
        davmail.writes
    );
    // Every item read by multiget, none again one by one for an answer in another case.
    assert_eq!(davmail.gets.load(Ordering::SeqCst), 0);
}
