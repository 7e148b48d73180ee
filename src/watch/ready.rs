//! Readiness for service managers: systemd's `READY=1` over `$NOTIFY_SOCKET`
//! (`Type=notify`), and `--ready-fd FD` for managers that pass a pipe instead (s6, tests).
//!
//! "Ready" means the config is read, every storage built and every password fetched: what
//! can stop `watch` for good has been checked. The first sync comes after, since it can take
//! long and a down server must not keep the service "activating" forever.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Mutex;

static READY_FD: Mutex<Option<File>> = Mutex::new(None);

/// Takes ownership of the inherited descriptor `fd`. Called first thing, before davsync opens
/// any file of its own, so the number cannot name one of ours; a number that is not an open
/// descriptor is a usage error.
// `unsafe`: taking ownership of an inherited descriptor by number has no safe form in std
// (it is what `OwnedFd::from_raw_fd` is for); the checks above the block make it sound.
#[allow(unsafe_code)]
pub fn claim_fd(fd: i32) -> anyhow::Result<()> {
    if fd < 3 {
        anyhow::bail!("--ready-fd {fd}: must be an inherited descriptor (3 or above), not stdin/stdout/stderr");
    }
    if std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_err() {
        anyhow::bail!("--ready-fd {fd}: no such open file descriptor");
    }
    // SAFETY: the descriptor is open (checked above) and nothing in this process owns it:
    // davsync has opened no file yet, so it is one inherited from the parent, given to us.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // A close-on-exec duplicate, so that password commands and hooks started later do not
    // hold the reader's pipe open; the inherited number itself is closed here.
    let dup = owned
        .try_clone()
        .map_err(|e| anyhow::anyhow!("--ready-fd {fd}: {e}"))?;
    drop(owned);
    *READY_FD.lock().expect("ready fd lock") = Some(File::from(dup));
    Ok(())
}

/// Tells whoever waits that davsync is ready: `READY=1` to `$NOTIFY_SOCKET` when set, and
/// `READY=1\n` to the `--ready-fd` descriptor, which is then closed. Failures are logged:
/// a service manager that cannot be told is no reason to stop syncing.
pub fn notify_ready(status: &str) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        let states = [
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(status),
        ];
        if let Err(e) = sd_notify::notify(false, &states) {
            tracing::warn!("telling the service manager that davsync is ready: {e}");
        }
    }
    if let Some(mut f) = READY_FD.lock().expect("ready fd lock").take() {
        if let Err(e) = f.write_all(b"READY=1\n").and_then(|_| f.flush()) {
            tracing::warn!("writing READY=1 to --ready-fd: {e}");
        }
    }
}

/// Tells systemd what davsync is doing (shown by `systemctl status`).
pub fn notify_status(status: &str) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Status(status)]);
    }
}

/// Tells systemd that davsync is shutting down.
pub fn notify_stopping() {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    }
}
