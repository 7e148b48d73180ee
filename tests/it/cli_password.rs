//! Passwords: resolved only for storages a command uses, failures are config errors (exit
//! 2, nothing touched), and a password never appears in any output.

use crate::cli_util;

use cli_util::{event, Env};

const SECRET: &str = "s3cret-Pa55word-xyz";

fn remote_pair(password: &str) -> String {
    format!(
        "[storage.local]\ntype = \"vdir\"\npath = \"local\"\nfileext = \".ics\"\n\n\
         [storage.remote]\ntype = \"caldav\"\nurl = \"http://127.0.0.1:9/dav/\"\n\
         username = \"alice\"\n{password}\ntimeout = 2\n\n\
         [pair.p]\na = \"local\"\nb = \"remote\"\n"
    )
}

#[test]
fn failing_password_command_is_a_config_error_naming_it() {
    let env = Env::new();
    env.config(&remote_pair(
        "password.command = [\"sh\", \"-c\", \"exit 4\"]",
    ));
    env.write("local/one.ics", &event("one", "First"));
    let before = env.snapshot();
    let r = env.run(&["sync"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("storage.remote.password.command `sh -c exit 4` failed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{}:13:", env.config_path().display())),
        "{}",
        r.stderr
    );
    cli_util::assert_unchanged(&before, &env.snapshot(), "nothing may change");
}

#[test]
fn missing_password_env_is_a_config_error_naming_the_variable() {
    let env = Env::new();
    env.config(&remote_pair(
        "password.env = \"DAVSYNC_TEST_NO_SUCH_PASSWORD\"",
    ));
    let r = env.run(&["sync"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("environment variable DAVSYNC_TEST_NO_SUCH_PASSWORD is not set"),
        "{}",
        r.stderr
    );
}

#[test]
fn password_of_an_unused_storage_is_not_resolved() {
    let env = Env::new();
    env.config(
        &(remote_pair("password.command = [\"sh\", \"-c\", \"touch ran; echo pw\"]")
            + "[storage.x]\ntype = \"vdir\"\npath = \"x\"\nfileext = \".ics\"\n\n\
               [storage.y]\ntype = \"vdir\"\npath = \"y\"\nfileext = \".ics\"\n\n\
               [pair.q]\na = \"x\"\nb = \"y\"\n"),
    );
    env.write("x/one.ics", &event("one", "First"));
    env.mkdir("y");
    let r = env.run(&["sync", "q"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (uploading) item one to y"]);
    assert!(
        !env.path("ran").exists(),
        "the password command of an unused storage ran"
    );
}

/// At the highest verbosity, against a server that refuses the connection, no output holds
/// the password, whichever way it was configured.
#[test]
fn password_never_appears_in_output_at_vv() {
    for password in [
        format!("password = \"{SECRET}\""),
        format!("password.command = [\"echo\", \"{SECRET}\"]"),
        "password.env = \"DAVSYNC_TEST_PASSWORD\"".to_owned(),
    ] {
        let env = Env::new();
        env.config(&remote_pair(&password));
        env.write("local/one.ics", &event("one", "First"));
        let out: cli_util::Run = env
            .command()
            .env("DAVSYNC_TEST_PASSWORD", SECRET)
            .arg("-c")
            .arg(env.config_path())
            .args(["-vv", "sync"])
            .output()
            .unwrap()
            .into();
        assert_eq!(out.code, 1, "{password}: {}", out.stderr);
        assert!(!out.stdout.contains(SECRET), "{password}: {}", out.stdout);
        assert!(!out.stderr.contains(SECRET), "{password}: {}", out.stderr);
        assert!(!out.stderr.is_empty(), "the failure must be reported");
    }
}

#[test]
fn password_command_of_a_storage_shared_by_two_pairs_runs_once() {
    let env = Env::new();
    env.config(
        &(remote_pair("password.command = [\"sh\", \"-c\", \"echo ran >> count; echo pw\"]")
            + "[storage.other]\ntype = \"vdir\"\npath = \"other\"\nfileext = \".ics\"\n\n\
               [pair.q]\na = \"other\"\nb = \"remote\"\n"),
    );
    let r = env.run(&["sync"]);
    assert_eq!(r.code, 1, "the server is unreachable: {}", r.stderr);
    assert_eq!(env.read("count"), "ran\n");
}
