//! The response size cap holds for bodies without a Content-Length (chunked) too, whether the
//! body is gathered whole or streamed to a parser chunk by chunk: the transfer stops at the
//! cap with an error naming it, and no more than the cap reaches the parser.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use davsync_storages::net::{Client, Method, Request, TransportOptions};
use davsync_storages::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

const CAP: u64 = 10_000;
const CHUNK: usize = 1_000;

/// A loopback server answering every request with a chunked 207 of `chunks` x [`CHUNK`]
/// bytes (no Content-Length); counts the bytes it managed to send.
async fn chunked_server(chunks: usize) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/cal/", listener.local_addr().unwrap())).unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = format!("{CHUNK:x}\r\n{}\r\n", "x".repeat(CHUNK));
                for _ in 0..chunks {
                    if sock.write_all(piece.as_bytes()).await.is_err() {
                        return;
                    }
                    counter.fetch_add(CHUNK, Ordering::SeqCst);
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    (url, sent)
}

fn client(url: &Url) -> Client {
    let mut opts = TransportOptions::new(url.clone());
    opts.max_response_bytes = CAP;
    Client::new(&opts).unwrap()
}

#[tokio::test]
async fn a_chunked_body_past_the_cap_is_refused_when_gathered_whole() {
    let (url, _) = chunked_server(1_000).await;
    let err = client(&url)
        .send(&Request::new(Method::GET, url.clone()))
        .await
        .expect_err("1 MB against a 10 kB cap");
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .contains("response body larger than the limit of 10000 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn a_streamed_body_past_the_cap_stops_at_the_cap() {
    let (url, _) = chunked_server(1_000).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Url, bytes::Bytes)>(4);
    let reader = tokio::spawn(async move {
        let mut got = 0usize;
        while let Some((_, bytes)) = rx.recv().await {
            got += bytes.len();
        }
        got
    });
    let req = Request::new(Method::GET, url.clone()).sink(tx);
    let err = client(&url)
        .send(&req)
        .await
        .expect_err("1 MB against a 10 kB cap");
    drop(req);
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .contains("response body larger than the limit of 10000 bytes"),
        "{err}"
    );
    let got = reader.await.unwrap();
    assert!(
        got as u64 <= CAP,
        "the parser was handed {got} bytes, past the cap"
    );
}

#[tokio::test]
async fn a_streamed_body_within_the_cap_arrives_whole() {
    let (url, _) = chunked_server(9).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Url, bytes::Bytes)>(4);
    let reader = tokio::spawn(async move {
        let mut got = 0usize;
        while let Some((_, bytes)) = rx.recv().await {
            got += bytes.len();
        }
        got
    });
    let req = Request::new(Method::GET, url.clone()).sink(tx);
    let resp = client(&url).send(&req).await.unwrap();
    drop(req);
    assert_eq!(resp.status.as_u16(), 207);
    assert_eq!(reader.await.unwrap(), 9 * CHUNK);
}
