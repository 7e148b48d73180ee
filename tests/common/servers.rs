//! Real CalDAV/CardDAV servers for the integration tests, each on a free loopback port with
//! its storage in a temporary directory, stopped on drop: Radicale 3 and Xandikos from the
//! test venv, and DAViCal, Cyrus, SabreDAV, SOGo and Calypso from Debian's packages through
//! `tests/servers/<name>/start.sh` (see tests/servers/lib.sh for its conventions).
//!
//! Layouts, as the servers publish them (and discovery must find them):
//! - Radicale: `/.well-known/caldav` redirects to `/`; the principal is `/<user>/`, which is
//!   also the calendar and address book home set; collections are `/<user>/<name>/`, stored as
//!   folders `collection-root/<user>/<name>/` holding a `.Radicale.props` JSON file.
//! - Xandikos: the principal is `/user/`; the calendar home set is `/user/calendars/` and the
//!   address book home set `/user/contacts/`; `--defaults` creates `calendar` and `addressbook`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::tls::TestCerts;
use super::{require_tool, wait_until};

mod scripted;

/// The test user's password on Radicale: distinctive, so a test can assert it never shows up
/// in davsync's output.
pub const RADICALE_PASSWORD: &str = "pw-Zq8x7Kd2vN";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Radicale,
    Xandikos,
    Davical,
    Cyrus,
    Sabredav,
    Sogo,
    Calypso,
}

impl ServerKind {
    /// The name used by `tests/servers/<name>/` and `scripts/test --server NAME`.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Radicale => "radicale",
            ServerKind::Xandikos => "xandikos",
            ServerKind::Davical => "davical",
            ServerKind::Cyrus => "cyrus",
            ServerKind::Sabredav => "sabredav",
            ServerKind::Sogo => "sogo",
            ServerKind::Calypso => "calypso",
        }
    }

    /// Started by `tests/servers/<name>/start.sh` (Debian packages), not from the venv.
    pub fn scripted(self) -> bool {
        !matches!(self, ServerKind::Radicale | ServerKind::Xandikos)
    }
}

/// Which kind of collection: decides the home set and the storage type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coll {
    Calendar,
    AddressBook,
}

impl Coll {
    /// The davsync storage type for this kind of collection.
    pub fn storage_type(self) -> &'static str {
        match self {
            Coll::Calendar => "caldav",
            Coll::AddressBook => "carddav",
        }
    }
    pub fn fileext(self) -> &'static str {
        match self {
            Coll::Calendar => ".ics",
            Coll::AddressBook => ".vcf",
        }
    }
}

/// Options for starting a server.
#[derive(Default)]
pub struct ServerOptions {
    /// Serve HTTPS with this certificate (Radicale only).
    pub tls: Option<TestCerts>,
    /// Log every request with its headers (Radicale `debug` level), for request counting.
    pub verbose_log: bool,
}

/// A running server. Dropping it kills the process (no leaked servers).
pub struct DavServer {
    pub kind: ServerKind,
    child: Option<Child>,
    pub port: u16,
    pub https: bool,
    /// Where the server keeps its data.
    pub data: PathBuf,
    pub username: String,
    pub password: String,
    log: PathBuf,
    cmd: Vec<String>,
    /// A scripted server's RUNDIR while it runs (its stop.sh takes it).
    script_run: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// A free loopback port (the OS picks it; there is a small window before the server binds,
/// covered by the retry in `spawn`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

impl DavServer {
    /// Starts a server of `kind`, or returns `None` (after a loud skip notice) when it is not
    /// installed and `CI` is not true.
    pub fn start(kind: ServerKind) -> Option<DavServer> {
        Self::start_with(kind, ServerOptions::default())
    }

    pub fn start_with(kind: ServerKind, opts: ServerOptions) -> Option<DavServer> {
        if kind.scripted() {
            assert!(opts.tls.is_none(), "TLS tests use Radicale");
            return Self::start_scripted(kind);
        }
        let exe = require_tool(kind.name())?;
        // A failed start is most often a port taken between `free_port` and the bind: try
        // again from scratch a few times before failing the test.
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let mut server = match kind {
                ServerKind::Radicale => Self::prepare_radicale(&exe, &opts),
                ServerKind::Xandikos => Self::prepare_xandikos(&exe, &opts),
                _ => unreachable!("scripted servers start through start_scripted"),
            };
            match server.spawn() {
                Ok(()) => return Some(server),
                Err(e) => {
                    eprintln!("{kind:?} failed to start, retrying: {e}");
                    last_err = e;
                }
            }
        }
        panic!("{kind:?} did not start after 3 attempts: {last_err}");
    }

    fn prepare_radicale(exe: &Path, opts: &ServerOptions) -> DavServer {
        let dir = tempfile::Builder::new()
            .prefix("davsync-radicale-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("collections");
        std::fs::create_dir_all(data.join("collection-root")).unwrap();
        let users = dir.path().join("users");
        let (username, password) = ("alice".to_owned(), RADICALE_PASSWORD.to_owned());
        std::fs::write(&users, format!("{username}:{password}\n")).unwrap();
        let tls_section = match &opts.tls {
            Some(certs) => {
                let files = certs.write_server_files(dir.path());
                format!(
                    "ssl = True\ncertificate = {}\nkey = {}\n",
                    files.cert.display(),
                    files.key.display()
                )
            }
            None => "ssl = False\n".to_owned(),
        };
        // At debug level Radicale also logs request bodies when asked to: tests tell a
        // calendar-multiget (item bodies read) from a sync-collection listing by them.
        let level = if opts.verbose_log {
            "debug\nrequest_content_on_debug = True"
        } else {
            "info"
        };
        let port = free_port();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\ndelay_on_error = 0\n{tls_section}\n\
                 [auth]\ntype = htpasswd\nhtpasswd_filename = {users}\n\
                 htpasswd_encryption = plain\ndelay = 0\n\n\
                 [rights]\ntype = owner_only\n\n\
                 [storage]\nfilesystem_folder = {data}\n\n\
                 [web]\ntype = none\n\n[logging]\nlevel = {level}\n",
                users = users.display(),
                data = data.display(),
            ),
        )
        .unwrap();
        DavServer {
            kind: ServerKind::Radicale,
            child: None,
            port,
            https: opts.tls.is_some(),
            data,
            username,
            password,
            log: dir.path().join("server.log"),
            cmd: vec![
                exe.to_string_lossy().into_owned(),
                "--config".to_owned(),
                config.to_string_lossy().into_owned(),
            ],
            script_run: None,
            _dir: dir,
        }
    }

    fn prepare_xandikos(exe: &Path, opts: &ServerOptions) -> DavServer {
        assert!(opts.tls.is_none(), "TLS tests use Radicale");
        let dir = tempfile::Builder::new()
            .prefix("davsync-xandikos-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let port = free_port();
        let mut cmd = vec![exe.to_string_lossy().into_owned(), "serve".to_owned()];
        for arg in [
            "--defaults",
            "-d",
            data.to_str().unwrap(),
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--no-detect-systemd",
        ] {
            cmd.push(arg.to_owned());
        }
        DavServer {
            kind: ServerKind::Xandikos,
            child: None,
            port,
            https: false,
            data,
            username: "user".to_owned(),
            password: "unused".to_owned(),
            log: dir.path().join("server.log"),
            cmd,
            script_run: None,
            _dir: dir,
        }
    }

    /// Starts the process and waits (bounded) until it accepts connections.
    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.cmd[0])
            .args(&self.cmd[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.cmd[0]))?;
        self.child = Some(child);
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let mut exited = None;
        let up = wait_until(Duration::from_secs(30), || {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                exited = Some(st);
                return true;
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        if let Some(st) = exited {
            self.child = None;
            return Err(format!("{:?} exited with {st}:\n{}", self.kind, self.log()));
        }
        if !up {
            self.kill();
            return Err(format!(
                "{:?} not listening on {addr} after 30s:\n{}",
                self.kind,
                self.log()
            ));
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(run) = self.script_run.take() {
            scripted::stop(self.kind, &run);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server (its data stays), e.g. to load items behind its back.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts it again on the same port after [`stop`](Self::stop).
    pub fn restart(&mut self) {
        assert!(
            !self.kind.scripted(),
            "a scripted server starts afresh, its data wiped"
        );
        self.kill();
        self.spawn().expect("restart server");
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        if self.kind.scripted() {
            return self.scripted_log();
        }
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn root_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// The home set in which collections of `coll` live.
    pub fn home_url(&self, coll: Coll) -> String {
        let path = match (self.kind, coll) {
            (ServerKind::Radicale, _) => format!("{}/", self.username),
            (ServerKind::Xandikos, Coll::Calendar) => "user/calendars/".to_owned(),
            (ServerKind::Xandikos, Coll::AddressBook) => "user/contacts/".to_owned(),
            (kind, coll) => scripted::home_path(kind, coll).to_owned(),
        };
        format!("{}{path}", self.root_url())
    }

    pub fn collection_url(&self, coll: Coll, name: &str) -> String {
        format!("{}{name}/", self.home_url(coll))
    }

    /// The name of a collection that exists from the start (Xandikos `--defaults`), created on
    /// Radicale by [`create_collection`](Self::create_collection).
    pub fn default_collection(&self, coll: Coll) -> &'static str {
        if self.kind.scripted() {
            return scripted::default_collection(self.kind, coll);
        }
        match coll {
            Coll::Calendar => "calendar",
            Coll::AddressBook => "addressbook",
        }
    }

    /// Creates a collection directly in the server's storage (no HTTP, so the test does not
    /// depend on davsync to set up its fixture).
    pub fn create_collection(&self, coll: Coll, name: &str, displayname: Option<&str>) {
        if self.kind.scripted() {
            return self.scripted_create_collection(coll, name, displayname);
        }
        match self.kind {
            ServerKind::Radicale => {
                let dir = self.radicale_collection_dir(name);
                std::fs::create_dir_all(&dir).unwrap();
                let tag = match coll {
                    Coll::Calendar => "VCALENDAR",
                    Coll::AddressBook => "VADDRESSBOOK",
                };
                let mut props = format!("{{\"tag\": \"{tag}\"");
                if let Some(d) = displayname {
                    props.push_str(&format!(", \"D:displayname\": \"{d}\""));
                }
                props.push('}');
                std::fs::write(dir.join(".Radicale.props"), props).unwrap();
            }
            ServerKind::Xandikos => {
                if name == self.default_collection(coll) {
                    return;
                }
                let exe = require_tool("xandikos").expect("xandikos is running");
                let home = self.data.join(match coll {
                    Coll::Calendar => "user/calendars",
                    Coll::AddressBook => "user/contacts",
                });
                let mut cmd = Command::new(exe);
                cmd.arg("create-collection")
                    .arg("-d")
                    .arg(&home)
                    .arg("--type")
                    .arg(match coll {
                        Coll::Calendar => "calendar",
                        Coll::AddressBook => "addressbook",
                    })
                    .arg("--name")
                    .arg(name);
                if let Some(d) = displayname {
                    cmd.arg("--displayname").arg(d);
                }
                let out = cmd.output().unwrap();
                assert!(
                    out.status.success(),
                    "xandikos create-collection: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            _ => unreachable!("scripted servers create collections over HTTP"),
        }
    }

    /// The folder in which the server keeps a collection of the test user.
    pub fn collection_dir(&self, coll: Coll, name: &str) -> PathBuf {
        match self.kind {
            ServerKind::Radicale => self.radicale_collection_dir(name),
            kind if kind.scripted() => {
                panic!("{kind:?} keeps its collections in a database: use its URLs")
            }
            _ => self
                .data
                .join(match coll {
                    Coll::Calendar => "user/calendars",
                    Coll::AddressBook => "user/contacts",
                })
                .join(name),
        }
    }

    /// Loads items into an existing collection behind the server's back, fast: the server is
    /// stopped, `write` puts the item files into the collection's folder, and the server is
    /// started again. Radicale keeps one file per item; Xandikos keeps a git repository, so
    /// the files are committed in one commit with dulwich (from the test venv), where a PUT
    /// per item would make a commit each.
    pub fn load_items<T>(&mut self, coll: Coll, name: &str, write: impl FnOnce(&Path) -> T) -> T {
        if self.kind.scripted() {
            return self.scripted_load_items(coll, name, write);
        }
        self.stop();
        let dir = self.collection_dir(coll, name);
        let out = write(&dir);
        if self.kind == ServerKind::Xandikos {
            let python = super::venv_dir().join("bin").join("python");
            let status = Command::new(&python)
                .arg("-c")
                .arg(
                    "import os, sys\n\
                     from dulwich import porcelain\n\
                     r = sys.argv[1]\n\
                     paths = [os.path.join(r, n) for n in os.listdir(r) if not n.startswith('.')]\n\
                     porcelain.add(r, paths=paths)\n\
                     who = b'davsync tests <tests@example.org>'\n\
                     porcelain.commit(r, message=b'load test items', author=who, committer=who)\n",
                )
                .arg(&dir)
                .status()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
            assert!(
                status.success(),
                "committing test items into {}",
                dir.display()
            );
        }
        self.spawn().expect("restart server");
        out
    }

    /// Radicale's folder for a collection of the test user.
    pub fn radicale_collection_dir(&self, name: &str) -> PathBuf {
        assert_eq!(self.kind, ServerKind::Radicale);
        self.data
            .join("collection-root")
            .join(&self.username)
            .join(name)
    }

    /// Names of the collections the server holds for the test user (from its storage).
    pub fn collection_names(&self, coll: Coll) -> Vec<String> {
        if self.kind.scripted() {
            return self.scripted_collection_names(coll);
        }
        let dir = match self.kind {
            ServerKind::Radicale => self.data.join("collection-root").join(&self.username),
            _ => self.data.join(match coll {
                Coll::Calendar => "user/calendars",
                Coll::AddressBook => "user/contacts",
            }),
        };
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .filter(|n| match self.kind {
                        ServerKind::Radicale => {
                            let props =
                                std::fs::read_to_string(dir.join(n).join(".Radicale.props"))
                                    .unwrap_or_default();
                            props.contains(match coll {
                                Coll::Calendar => "VCALENDAR",
                                Coll::AddressBook => "VADDRESSBOOK",
                            })
                        }
                        _ => true,
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A davsync storage section for this server. `url` is usually
    /// [`collection_url`](Self::collection_url) or [`home_url`](Self::home_url) or
    /// [`root_url`](Self::root_url); `extra` is appended verbatim (TLS, auth options).
    pub fn storage_section(&self, name: &str, coll: Coll, url: &str, extra: &str) -> String {
        let creds = match self.kind {
            ServerKind::Radicale => format!(
                "username = \"{}\"\npassword = \"{}\"\n",
                self.username, self.password
            ),
            ServerKind::Xandikos => String::new(),
            _ => format!(
                "username = \"{}\"\npassword = \"{}\"\n",
                self.username, self.password
            ),
        };
        format!(
            "[storage.{name}]\ntype = \"{}\"\nurl = \"{url}\"\n{creds}{extra}\n",
            coll.storage_type()
        )
    }

    /// Count of logged requests per method (needs `verbose_log` for Radicale; Xandikos logs
    /// each request in access-log form).
    pub fn request_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for line in self.log().lines() {
            let method = match self.kind {
                ServerKind::Xandikos => line
                    .split('"')
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next()),
                ServerKind::Radicale => line
                    .split_once(" request for ")
                    .and_then(|(head, _)| head.rsplit(' ').next()),
                _ => None,
            };
            if let Some(m) = method {
                *counts.entry(m.to_owned()).or_insert(0) += 1;
            }
        }
        counts
    }
}

impl Drop for DavServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// True when `path` exists (helper for assertions on server storage).
pub fn exists(path: &Path) -> bool {
    path.exists()
}
