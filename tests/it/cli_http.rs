//! The `http` storage (a read-only iCalendar feed) through the binary, against an in-test
//! HTTP server: items keep the feed's UIDs, a changed feed item is updated in place, local
//! edits are reverted, and credentials never reach the output.

use crate::cli_util;

use cli_util::{uid_of, Env};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn feed(summary_of_b: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//feed//EN\r\n\
         BEGIN:VEVENT\r\nUID:holiday-a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260101\r\nSUMMARY:New Year\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nUID:holiday-b\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20261225\r\nSUMMARY:{summary_of_b}\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

async fn serve(server: &MockServer, body: String) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/holidays.ics"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/calendar")
                .set_body_string(body),
        )
        .mount(server)
        .await;
}

fn config(env: &Env, url: &str, extra: &str) {
    env.config(&format!(
        "[storage.feed]\ntype = \"http\"\nurl = \"{url}\"\n{extra}\n\n\
         [storage.local]\ntype = \"vdir\"\npath = \"local\"\n\n\
         [pair.holidays]\na = \"feed\"\nb = \"local\"\n"
    ));
}

/// Runs the binary off the async test thread, so the mock server keeps serving.
async fn run(env: &Env, args: &[&str]) -> cli_util::Run {
    let mut c = env.command();
    c.arg("-c").arg(env.config_path()).args(args);
    tokio::task::spawn_blocking(move || c.output().expect("run davsync").into())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_items_sync_and_a_changed_item_is_updated_in_place() {
    let server = MockServer::start().await;
    serve(&server, feed("Christmas")).await;
    let env = Env::new();
    env.mkdir("local");
    config(&env, &format!("{}/holidays.ics", server.uri()), "");

    let r = run(&env, &["sync"]).await;
    r.assert_code(0);
    assert_eq!(
        r.sorted_lines(),
        [
            "Copying (uploading) item holiday-a to local",
            "Copying (uploading) item holiday-b to local",
        ]
    );
    let before: Vec<String> = env.items("local", ".ics").into_keys().collect();

    serve(&server, feed("Christmas Day")).await;
    let r = run(&env, &["sync"]).await;
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (updating) item holiday-b to local"]);
    let after = env.items("local", ".ics");
    assert_eq!(
        after.keys().cloned().collect::<Vec<_>>(),
        before,
        "updated in place"
    );
    assert!(after
        .values()
        .any(|t| uid_of(t).as_deref() == Some("holiday-b") && t.contains("SUMMARY:Christmas Day")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_edit_of_a_feed_item_is_reverted() {
    let server = MockServer::start().await;
    serve(&server, feed("Christmas")).await;
    let env = Env::new();
    env.mkdir("local");
    config(&env, &format!("{}/holidays.ics", server.uri()), "");
    run(&env, &["sync"]).await.assert_code(0);
    for (name, text) in env.items("local", ".ics") {
        if text.contains("holiday-a") {
            env.write(
                &format!("local/{name}"),
                &text.replace("New Year", "Hangover"),
            );
        }
    }
    let r = run(&env, &["sync"]).await;
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (updating) item holiday-a to local"]);
    assert!(env
        .items("local", ".ics")
        .values()
        .all(|t| !t.contains("Hangover")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_never_appear_in_output_at_vvv() {
    const SECRET: &str = "feed-Pa55-secret";
    // base64("alice:feed-Pa55-secret")
    let server = MockServer::start().await;
    let token = "YWxpY2U6ZmVlZC1QYTU1LXNlY3JldA==";
    Mock::given(method("GET"))
        .and(path("/holidays.ics"))
        .and(header("authorization", format!("Basic {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(feed("Christmas")))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/holidays.ics"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("www-authenticate", "Basic realm=\"feed\""),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let env = Env::new();
    env.mkdir("local");
    config(
        &env,
        &format!("{}/holidays.ics", server.uri()),
        &format!("username = \"alice\"\npassword.command = [\"echo\", \"{SECRET}\"]"),
    );
    let r = run(&env, &["-vvv", "sync"]).await;
    r.assert_code(0);
    assert_eq!(r.lines().len(), 2, "{}", r.stdout);
    for out in [&r.stdout, &r.stderr] {
        assert!(!out.contains(SECRET), "password in output:\n{out}");
        assert!(
            !out.contains(token),
            "encoded credentials in output:\n{out}"
        );
    }
    assert!(
        r.stderr.contains("GET"),
        "-vvv shows the requests: {}",
        r.stderr
    );
}
