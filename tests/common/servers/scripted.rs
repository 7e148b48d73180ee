//! The servers started by `tests/servers/<name>/start.sh` (DAViCal, Cyrus, SabreDAV, SOGo,
//! Calypso): where their collections live, and fixtures made over plain HTTP, since their
//! data sits in databases the tests do not open.

use std::path::Path;
use std::process::{Command, Stdio};

use super::super as common;
use super::{free_port, Coll, DavServer, ServerKind};
use common::plain_http::{self, PlainHttp};

/// The home set of the test user, relative to the server root.
pub(super) fn home_path(kind: ServerKind, coll: Coll) -> &'static str {
    match (kind, coll) {
        (ServerKind::Davical, _) => "caldav.php/test/",
        (ServerKind::Cyrus, Coll::Calendar) => "dav/calendars/user/test/",
        (ServerKind::Cyrus, Coll::AddressBook) => "dav/addressbooks/user/test/",
        (ServerKind::Sabredav, Coll::Calendar) => "calendars/test/",
        (ServerKind::Sabredav, Coll::AddressBook) => "addressbooks/test/",
        (ServerKind::Sogo, Coll::Calendar) => "SOGo/dav/test/Calendar/",
        (ServerKind::Sogo, Coll::AddressBook) => "SOGo/dav/test/Contacts/",
        (ServerKind::Calypso, _) => "test/",
        (kind, _) => unreachable!("{kind:?} is not scripted"),
    }
}

/// The collection start.sh creates.
pub(super) fn default_collection(kind: ServerKind, coll: Coll) -> &'static str {
    match (kind, coll) {
        (ServerKind::Davical, Coll::Calendar) => "calendar",
        (ServerKind::Davical, Coll::AddressBook) => "addresses",
        (ServerKind::Cyrus, _) => "Default",
        (ServerKind::Sabredav, _) => "default",
        (ServerKind::Sogo, _) => "personal",
        (ServerKind::Calypso, Coll::Calendar) => "calendar",
        (ServerKind::Calypso, Coll::AddressBook) => "addressbook",
        (kind, _) => unreachable!("{kind:?} is not scripted"),
    }
}

pub(super) fn stop(kind: ServerKind, run: &Path) {
    let script = common::repo_root()
        .join("tests/servers")
        .join(kind.name())
        .join("stop.sh");
    let _ = Command::new("bash")
        .arg(script)
        .arg(run)
        .stdin(Stdio::null())
        .output();
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl DavServer {
    /// Runs `tests/servers/<name>/start.sh RUNDIR PORT`. Its exit status 3 means "cannot be
    /// had here" (not Debian, not root): a loud skip, or with `CI=true` a failure.
    pub(super) fn start_scripted(kind: ServerKind) -> Option<DavServer> {
        let script = common::repo_root()
            .join("tests/servers")
            .join(kind.name())
            .join("start.sh");
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix(&format!("davsync-{}-", kind.name()))
                .tempdir()
                .unwrap();
            let run = dir.path().join("run");
            let port = free_port();
            let out = Command::new("bash")
                .arg(&script)
                .arg(&run)
                .arg(port.to_string())
                .env("OWNER_PID", std::process::id().to_string())
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            match out.status.code() {
                Some(0) => {
                    return Some(DavServer {
                        kind,
                        child: None,
                        port,
                        https: false,
                        data: run.clone(),
                        username: "test".to_owned(),
                        password: "test".to_owned(),
                        log: run.join("server.log"),
                        cmd: Vec::new(),
                        script_run: Some(run),
                        _dir: dir,
                    });
                }
                Some(3) => {
                    let msg = format!("{} cannot be started here: {}", kind.name(), stderr.trim());
                    if common::in_ci() {
                        panic!("CI=true and {msg}");
                    }
                    eprintln!("\n************************************************************");
                    eprintln!("SKIPPED (not a pass): {msg}");
                    eprintln!("************************************************************\n");
                    return None;
                }
                _ => {
                    let _ = Command::new("bash")
                        .arg(script.with_file_name("stop.sh"))
                        .arg(&run)
                        .output();
                    eprintln!("{} failed to start, retrying: {stderr}", kind.name());
                    last_err = stderr;
                }
            }
        }
        panic!("{} did not start after 3 attempts: {last_err}", kind.name());
    }

    /// A client for plain HTTP requests as the test user.
    pub fn http(&self) -> PlainHttp {
        PlainHttp::new(&self.root_url(), &self.username, &self.password)
    }

    pub(super) fn scripted_log(&self) -> String {
        let mut out = String::new();
        if let Some(run) = &self.script_run {
            for name in [
                "php.log",
                "calypso.log",
                "log/sogo.log",
                "log/master.log",
                "pg.log",
            ] {
                if let Ok(t) = std::fs::read_to_string(run.join(name)) {
                    out.push_str(&format!("--- {name}\n{t}"));
                }
            }
        }
        out
    }

    /// MKCALENDAR, or extended MKCOL for an address book (Calypso: in its storage, see
    /// tests/servers/calypso/mkcol.sh).
    pub(super) fn scripted_create_collection(
        &self,
        coll: Coll,
        name: &str,
        displayname: Option<&str>,
    ) {
        if name == self.default_collection(coll) && displayname.is_none() {
            return;
        }
        if self.kind == ServerKind::Calypso {
            let script = common::repo_root().join("tests/servers/calypso/mkcol.sh");
            let run = self.script_run.as_ref().expect("running");
            let out = Command::new("bash")
                .arg(script)
                .arg(run)
                .arg(name)
                .arg(match coll {
                    Coll::Calendar => "calendar",
                    Coll::AddressBook => "addressbook",
                })
                .arg(displayname.unwrap_or(""))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "calypso mkcol.sh: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let url = self.collection_url(coll, name);
        let display = displayname
            .map(|d| format!("<D:displayname>{}</D:displayname>", xml_text(d)))
            .unwrap_or_default();
        let answer = match coll {
            Coll::Calendar => {
                let body = format!(
                    r#"<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>{display}</D:prop></D:set></C:mkcalendar>"#
                );
                self.http()
                    .dav("MKCALENDAR", &url, displayname.map(|_| body.as_str()))
            }
            Coll::AddressBook => {
                let body = format!(
                    r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:R="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><R:addressbook/></D:resourcetype>{display}</D:prop></D:set></D:mkcol>"#
                );
                self.http().dav("MKCOL", &url, Some(&body))
            }
        };
        assert!(
            answer.ok(),
            "creating {name} on {:?}: {} {}",
            self.kind,
            answer.status,
            answer.body
        );
    }

    /// The items `write` puts into a folder, PUT into the collection 8 at a time.
    pub(super) fn scripted_load_items<T>(
        &mut self,
        coll: Coll,
        name: &str,
        write: impl FnOnce(&Path) -> T,
    ) -> T {
        let dir = tempfile::tempdir().unwrap();
        let out = write(dir.path());
        let url = self.collection_url(coll, name);
        let ct = match coll {
            Coll::Calendar => "text/calendar; charset=utf-8",
            Coll::AddressBook => "text/vcard; charset=utf-8",
        };
        let mut items = Vec::new();
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let path = e.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            items.push((
                format!("{url}{file}"),
                ct,
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
        for (a, (url, _, _)) in self.http().put_many(items.clone()).iter().zip(&items) {
            assert!(a.ok(), "PUT {url}: {} {}", a.status, a.body);
        }
        out
    }

    /// The calendars or address books of the test user, from a PROPFIND Depth 1 on the home
    /// set, without the scheduling inbox and outbox (by resourcetype, and as the home set's
    /// own `schedule-inbox-URL`/`schedule-outbox-URL` name them).
    pub(super) fn scripted_collection_names(&self, coll: Coll) -> Vec<String> {
        let home = self.home_url(coll);
        let http = self.http();
        let a = http.propfind(
            &home,
            "1",
            r#"<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>"#,
        );
        assert_eq!(a.status, 207, "PROPFIND {home}: {}", a.body);
        let sched = http.propfind(
            &home,
            "0",
            r#"<?xml version="1.0"?><propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop><C:schedule-inbox-URL/><C:schedule-outbox-URL/></prop></propfind>"#,
        );
        let mut scheduling = Vec::new();
        for tag in ["schedule-inbox-URL", "schedule-outbox-URL"] {
            for inner in plain_http::split_elements(&sched.body, tag) {
                if let Some(h) = plain_http::first_text(&inner, "href") {
                    scheduling.push(h.trim_end_matches('/').to_owned());
                }
            }
        }
        let home_path = url::Url::parse(&home)
            .unwrap()
            .path()
            .trim_end_matches('/')
            .to_owned();
        let want = match coll {
            Coll::Calendar => "calendar",
            Coll::AddressBook => "addressbook",
        };
        let mut names: Vec<String> = plain_http::responses(&a.body)
            .into_iter()
            .filter(|r| r.types.iter().any(|t| t == want))
            .filter(|r| !r.types.iter().any(|t| t.starts_with("schedule-")))
            .filter(|r| {
                let h = r.href.trim_end_matches('/');
                h != home_path && !scheduling.iter().any(|s| s == h)
            })
            .map(|r| {
                r.href
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
