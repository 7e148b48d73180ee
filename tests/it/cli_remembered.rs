//! What davsync keeps about servers in the status folder (`remembered/`), through the
//! binary against an in-test server: private files that hold no password, a corrupt file
//! ignored with a warning and rebuilt; and bearer tokens from a token command fetched again
//! when the server refuses one.

use crate::cli_util;

use cli_util::Env;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "Rem3mber-n0t-this";
/// base64("alice:Rem3mber-n0t-this")
const BASIC: &str = "Basic YWxpY2U6UmVtM21iZXItbjB0LXRoaXM=";

fn empty_multistatus() -> ResponseTemplate {
    ResponseTemplate::new(207).set_body_raw(
        r#"<d:multistatus xmlns:d="DAV:"/>"#.as_bytes().to_vec(),
        "application/xml; charset=utf-8",
    )
}

/// A server that wants `authorization` and answers every request with it by an empty
/// collection, and every other request by 401 with `challenge`.
async fn mount(server: &MockServer, authorization: &str, challenge: &str) {
    Mock::given(header("authorization", authorization))
        .respond_with(empty_multistatus())
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("REPORT"))
        .respond_with(ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge))
        .with_priority(2)
        .mount(server)
        .await;
    Mock::given(method("PROPFIND"))
        .respond_with(ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge))
        .with_priority(2)
        .mount(server)
        .await;
}

fn config(env: &Env, server: &MockServer, credentials: &str) {
    env.mkdir("local");
    env.config(&format!(
        "[storage.remote]\ntype = \"caldav\"\nurl = \"{}/cal/\"\n{credentials}\n\n\
         [storage.local]\ntype = \"vdir\"\npath = \"local\"\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"local\"\nb = \"remote\"\n",
        server.uri()
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

async fn authorizations(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| "-".into())
        })
        .collect()
}

fn remembered_files(env: &Env) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(env.path("status/remembered"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remembered_scheme_is_private_holds_no_password_and_a_corrupt_file_is_rebuilt() {
    let server = MockServer::start().await;
    mount(&server, BASIC, "Basic realm=\"dav\"").await;
    let env = Env::new();
    config(
        &env,
        &server,
        &format!("username = \"alice\"\npassword = \"{PASSWORD}\""),
    );
    run(&env, &["sync"]).await.assert_code(0);
    let first = authorizations(&server).await;
    assert_eq!(first.first().map(String::as_str), Some("-"), "{first:?}");

    let files = remembered_files(&env);
    assert!(!files.is_empty());
    #[cfg(unix)]
    assert_eq!(mode(&env.path("status/remembered")), 0o700);
    for f in &files {
        #[cfg(unix)]
        assert_eq!(mode(f), 0o600, "{}", f.display());
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            !text.contains(PASSWORD) && !text.contains(&BASIC[6..]),
            "{text}"
        );
    }

    // The next sync sends the credentials with its first request: no 401.
    server.reset().await;
    mount(&server, BASIC, "Basic realm=\"dav\"").await;
    run(&env, &["sync"]).await.assert_code(0);
    let second = authorizations(&server).await;
    assert!(second.iter().all(|a| a == BASIC), "{second:?}");

    // A corrupt file: a warning naming it, a sync as if nothing was remembered, and the
    // file written again.
    for f in &files {
        std::fs::write(f, "{\"format\": ").unwrap();
    }
    server.reset().await;
    mount(&server, BASIC, "Basic realm=\"dav\"").await;
    let r = run(&env, &["sync"]).await;
    r.assert_code(0);
    assert!(
        r.stderr.contains("ignoring") && r.stderr.contains("remembered"),
        "{}",
        r.stderr
    );
    assert_eq!(
        authorizations(&server).await.first().map(String::as_str),
        Some("-")
    );
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.contains("davsync-remembered-1"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bearer_token_makes_the_token_command_run_again_once() {
    let server = MockServer::start().await;
    mount(&server, "Bearer token-2", "Bearer realm=\"dav\"").await;
    let env = Env::new();
    // A token helper whose first token has expired: it counts its runs.
    env.write(
        "token-helper",
        "n=$(cat runs 2>/dev/null || echo 0); n=$((n + 1)); echo $n > runs; echo token-$n\n",
    );
    config(
        &env,
        &server,
        "auth = \"bearer\"\npassword.command = [\"sh\", \"token-helper\"]",
    );
    let r = run(&env, &["sync"]).await;
    r.assert_code(0);
    assert_eq!(env.read("runs").trim(), "2");
    let sent = authorizations(&server).await;
    assert_eq!(sent[0], "Bearer token-1");
    assert!(sent[1..].iter().all(|a| a == "Bearer token-2"), "{sent:?}");
    assert!(!r.stderr.contains("token-"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_remembers_nothing_and_leaves_no_status_folder() {
    let server = MockServer::start().await;
    mount(&server, BASIC, "Basic realm=\"dav\"").await;
    let env = Env::new();
    config(
        &env,
        &server,
        &format!("username = \"alice\"\npassword = \"{PASSWORD}\""),
    );
    run(&env, &["sync", "--dry-run"]).await.assert_code(0);
    assert!(
        !env.path("status").exists(),
        "a dry run changes nothing anywhere, the status folder included"
    );
    // The real sync afterwards remembers as usual.
    run(&env, &["sync"]).await.assert_code(0);
    assert!(!remembered_files(&env).is_empty());
}
