//! The status lock: a second `sync` (or `watch`) on a pair's status while another process
//! holds it is refused with a message naming the lock file, and touches nothing.

use crate::cli_util;

use std::process::Stdio;
use std::time::{Duration, Instant};

use cli_util::{event, two_vdirs, Env};

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sync_is_refused_while_another_process_holds_the_pair_lock() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.write("a/one.ics", &event("one", "First"));
    env.mkdir("b");
    std::fs::create_dir_all(env.path("status")).unwrap();
    let lock_path = env.path("status/p.lock");
    // This test process is the other holder.
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.try_lock().unwrap();
    let before = env.snapshot();

    let r = env.run(&["sync"]);
    r.assert_code(1);
    assert_eq!(r.stdout, "", "nothing may be synced");
    assert!(
        r.stderr.contains(&lock_path.display().to_string()),
        "the message names the lock file:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("pair p"), "{}", r.stderr);
    cli_util::assert_unchanged(&before, &env.snapshot(), "refused sync");

    drop(held);
    let r = env.run(&["sync"]);
    r.assert_code(0);
    assert_eq!(r.lines(), ["Copying (uploading) item one to b"]);
}

#[test]
fn second_sync_is_refused_while_the_first_is_running_and_the_first_finishes() {
    let env = Env::new();
    let marker = env.path("hook-started");
    let release = env.path("hook-release");
    // The first sync stops inside the post_hook of its first write until released, so the
    // second one runs exactly while the first holds the lock.
    let hook = format!(
        "post_hook = [\"sh\", \"-c\", \"touch '{}'; while [ ! -e '{}' ]; do sleep 0.02; done\", \"hook\"]\n",
        marker.display(),
        release.display()
    );
    let config = two_vdirs("").replacen("path = \"b\"\n", &format!("path = \"b\"\n{hook}"), 1);
    env.config(&config);
    env.write("a/one.ics", &event("one", "First"));
    env.mkdir("b");

    let mut first = env.command();
    first
        .arg("-c")
        .arg(env.config_path())
        .arg("sync")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let first = first.spawn().unwrap();
    wait_for("the first sync's hook", || marker.exists());

    let second = env.run(&["sync"]);
    second.assert_code(1);
    assert_eq!(second.stdout, "");
    assert!(
        second
            .stderr
            .contains(&env.path("status/p.lock").display().to_string()),
        "{}",
        second.stderr
    );

    std::fs::write(&release, "").unwrap();
    let first: cli_util::Run = first.wait_with_output().unwrap().into();
    first.assert_code(0);
    assert_eq!(first.lines(), ["Copying (uploading) item one to b"]);
    // The lock went with the first process: syncing works again.
    env.run(&["sync"]).assert_code(0);
}
