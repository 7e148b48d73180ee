//! A fault-injecting HTTP proxy for tests: it sits on a loopback port between davsync and a
//! real server and, for a seeded random share of the requests, adds latency, resets the
//! connection in the middle of the body, answers 500/502/503 with `Retry-After`, truncates
//! the body, stalls past the client's timeout, or marks one item's propstat of a 207 as 500.
//!
//! One request per connection (the proxy answers with `Connection: close`), upstream spoken as
//! HTTP/1.0 so that answers are never chunked. Everything is bounded: one thread per
//! connection, stalls last [`FaultProxy::stall`], and dropping the proxy stops it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Rng;

/// The faults, in the order they are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// 100-400 ms before the request goes on (not an error).
    Latency,
    /// The answer's headers and half its body, then a TCP reset.
    ResetMidBody,
    /// 503 with `Retry-After: 1`; the request never reaches the server.
    Unavailable503,
    /// 500; the request never reaches the server.
    Internal500,
    /// The request reaches the server (and takes effect), the client gets a 502.
    BadGateway502AfterForwarding,
    /// The whole headers (Content-Length included) and half the body, then a clean close.
    Truncated,
    /// Half the body, then silence past the client's timeout, then a close.
    Stall,
    /// A 207 holding item data: the first item's propstat says 500 instead of 200.
    Propstat500,
}

const ALL: [Fault; 8] = [
    Fault::Latency,
    Fault::ResetMidBody,
    Fault::Unavailable503,
    Fault::Internal500,
    Fault::BadGateway502AfterForwarding,
    Fault::Truncated,
    Fault::Stall,
    Fault::Propstat500,
];

struct Shared {
    upstream: u16,
    /// Faulted share of requests, in percent.
    rate: AtomicU32,
    rng: Mutex<Rng>,
    /// Every fault injected: (fault, "METHOD /path").
    log: Mutex<Vec<(Fault, String)>>,
    requests: AtomicU32,
    stop: AtomicBool,
    stall: Duration,
    /// Faults forced on the next requests whose request line starts with the given text.
    forced: Mutex<Vec<(String, Fault)>>,
}

pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// A proxy to `127.0.0.1:upstream` faulting `rate` percent of requests; `stall` is how
    /// long a stalled answer stays silent (make it longer than the client's timeout).
    pub fn start(upstream: u16, rate: u32, seed: u64, stall: Duration) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream,
            rate: AtomicU32::new(rate),
            rng: Mutex::new(Rng::new(seed)),
            log: Mutex::new(Vec::new()),
            requests: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            stall,
            forced: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(&s, conn);
                });
            }
        });
        FaultProxy { port, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Forces `fault` on the next `times` requests whose request line starts with `prefix`
    /// (e.g. `"REPORT"`, `"PUT /alice/"`), whatever the rate.
    pub fn force(&self, prefix: &str, fault: Fault, times: usize) {
        let mut forced = self.shared.forced.lock().unwrap();
        for _ in 0..times {
            forced.push((prefix.to_owned(), fault));
        }
    }

    /// Drops the faults still forced.
    pub fn clear_forced(&self) {
        self.shared.forced.lock().unwrap().clear();
    }

    pub fn set_rate(&self, percent: u32) {
        self.shared.rate.store(percent, Ordering::SeqCst);
    }

    /// The faults injected so far.
    pub fn faults(&self) -> Vec<(Fault, String)> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn requests(&self) -> u32 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn all_faults() -> &'static [Fault] {
        &ALL
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one HTTP request (headers and a Content-Length body) from `conn`.
fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 1 << 20 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((head, body)))
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The request rewritten for upstream: HTTP/1.0, one request per connection.
fn upstream_request(head: &str, body: &[u8]) -> Vec<u8> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let request_line = match request_line.rsplit_once(' ') {
        Some((rest, _version)) => format!("{rest} HTTP/1.0"),
        None => request_line.to_owned(),
    };
    let mut out = format!("{request_line}\r\n");
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let name = l.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sends the request upstream and returns the answer's status line + headers (without the
/// blank line) and body.
fn forward(s: &Shared, head: &str, body: &[u8]) -> std::io::Result<(String, Vec<u8>)> {
    let mut up = TcpStream::connect(("127.0.0.1", s.upstream))?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    up.write_all(&upstream_request(head, body))?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("upstream answer without headers"))?;
    let head = String::from_utf8_lossy(&resp[..end]).into_owned();
    Ok((head, resp[end + 4..].to_vec()))
}

/// The answer's head with `Content-Length` set to `len` and `Connection: close`.
fn client_head(up_head: &str, len: usize) -> String {
    let mut out = String::new();
    for (i, l) in up_head.split("\r\n").enumerate() {
        if i == 0 {
            out.push_str(&l.replacen("HTTP/1.0", "HTTP/1.1", 1));
            out.push_str("\r\n");
            continue;
        }
        let name = l.split(':').next().unwrap_or_default().trim();
        if [
            "content-length",
            "connection",
            "transfer-encoding",
            "keep-alive",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {len}\r\nConnection: close\r\n\r\n"
    ));
    out
}

fn simple(status: &str, extra: &str) -> Vec<u8> {
    let body = format!("{status}\n");
    format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn pick(s: &Shared, request_line: &str) -> Option<Fault> {
    {
        let mut forced = s.forced.lock().unwrap();
        if let Some(i) = forced
            .iter()
            .position(|(p, _)| request_line.starts_with(p.as_str()))
        {
            return Some(forced.remove(i).1);
        }
    }
    let mut rng = s.rng.lock().unwrap();
    let rate = u64::from(s.rate.load(Ordering::SeqCst));
    if rng.range(0, 100) >= rate {
        return None;
    }
    Some(ALL[rng.range(0, ALL.len() as u64) as usize])
}

fn serve(s: &Shared, mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let Some((head, body)) = read_request(&mut conn)? else {
        return Ok(());
    };
    s.requests.fetch_add(1, Ordering::SeqCst);
    let what = head
        .lines()
        .next()
        .unwrap_or_default()
        .rsplit_once(' ')
        .map_or(String::new(), |(r, _)| r.to_owned());
    let mut fault = pick(s, &what);
    let note = |f: Fault| s.log.lock().unwrap().push((f, what.clone()));
    match fault {
        Some(f @ Fault::Unavailable503) => {
            note(f);
            conn.write_all(&simple("503 Service Unavailable", "Retry-After: 1\r\n"))?;
            return Ok(());
        }
        Some(f @ Fault::Internal500) => {
            note(f);
            conn.write_all(&simple("500 Internal Server Error", ""))?;
            return Ok(());
        }
        Some(Fault::Latency) => {
            let ms = s.rng.lock().unwrap().range(100, 400);
            std::thread::sleep(Duration::from_millis(ms));
        }
        _ => {}
    }
    let (up_head, mut up_body) = match forward(s, &head, &body) {
        Ok(r) => r,
        Err(_) => {
            conn.write_all(&simple("502 Bad Gateway", ""))?;
            return Ok(());
        }
    };
    if fault == Some(Fault::Propstat500) {
        let text = String::from_utf8_lossy(&up_body).into_owned();
        let has_data = text.contains("calendar-data>BEGIN") || text.contains("address-data>BEGIN");
        if up_head.contains(" 207 ") && has_data && text.contains("HTTP/1.1 200 OK") {
            up_body = text
                .replacen("HTTP/1.1 200 OK", "HTTP/1.1 500 Internal Server Error", 1)
                .into_bytes();
        } else {
            // Nothing to mark in this answer: pass it on unharmed.
            fault = None;
        }
    }
    // Body-cutting faults need a body to cut.
    if matches!(
        fault,
        Some(Fault::ResetMidBody | Fault::Truncated | Fault::Stall)
    ) && up_body.len() < 2
    {
        fault = Some(Fault::BadGateway502AfterForwarding);
    }
    if let Some(f) = fault {
        note(f);
    }
    let full_head = client_head(&up_head, up_body.len());
    let half = up_body.len() / 2;
    match fault {
        Some(Fault::BadGateway502AfterForwarding) => {
            conn.write_all(&simple("502 Bad Gateway", ""))?;
        }
        Some(Fault::ResetMidBody) => {
            conn.write_all(full_head.as_bytes())?;
            conn.write_all(&up_body[..half])?;
            conn.flush()?;
            reset(conn);
        }
        Some(Fault::Truncated) => {
            conn.write_all(full_head.as_bytes())?;
            conn.write_all(&up_body[..half])?;
            conn.shutdown(Shutdown::Both)?;
        }
        Some(Fault::Stall) => {
            conn.write_all(full_head.as_bytes())?;
            conn.write_all(&up_body[..half])?;
            conn.flush()?;
            std::thread::sleep(s.stall);
            conn.shutdown(Shutdown::Both)?;
        }
        _ => {
            conn.write_all(full_head.as_bytes())?;
            conn.write_all(&up_body)?;
        }
    }
    Ok(())
}

/// Closes with a TCP RST instead of a FIN (SO_LINGER with a zero timeout).
fn reset(conn: TcpStream) {
    let sock = socket2::Socket::from(conn);
    let _ = sock.set_linger(Some(Duration::ZERO));
    drop(sock);
}
