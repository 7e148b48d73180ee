//! TLS settings against an in-test rustls server: `verify` (web PKI roots, none, a CA
//! bundle), `verify_fingerprint` pins, and client certificates.
//! The test PKI lives in tests/data/tls (see gen.sh there).

use crate::dav_support;

use std::path::PathBuf;
use std::sync::Arc;

use davsync_storages::dav::{DavOptions, DavStorage};
use davsync_storages::net::{
    fingerprint_text, parse_fingerprint, NetCause, TransportOptions, Verify,
};
use davsync_storages::{Error, ErrorKind, ItemKind, Storage};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

fn pin() -> String {
    std::fs::read_to_string(data("server.sha256"))
        .unwrap()
        .trim()
        .to_owned()
}

const EMPTY_MULTISTATUS: &str = "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n\
     Content-Length: 31\r\nConnection: close\r\n\r\n<d:multistatus xmlns:d=\"DAV:\"/>";

/// Serves an empty multistatus over TLS on 127.0.0.1; returns the base URL.
async fn serve(require_client_cert: bool) -> String {
    serve_with(require_client_cert, EMPTY_MULTISTATUS.to_owned()).await
}

/// The test server's TLS config (its certificate, optionally requiring a client certificate
/// from the test CA), without ALPN.
fn server_config(require_client_cert: bool) -> ServerConfig {
    let pem = std::fs::read(data("server.pem")).unwrap();
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .unwrap();
    let key_pem = std::fs::read(data("server.key")).unwrap();
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .unwrap()
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let ca = std::fs::read(data("ca.pem")).unwrap();
        let mut roots = RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca.as_slice()) {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    builder.with_single_cert(certs, key).unwrap()
}

/// Serves `response` (a whole HTTP/1.1 response) to every request.
async fn serve_with(require_client_cert: bool, response: String) -> String {
    let mut config = server_config(require_client_cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    serve_config(config, response).await
}

/// Serves `response` to every request over TLS with `config`.
async fn serve_config(config: ServerConfig, response: String) -> String {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let response = response.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{}", addr.port())
}

async fn list(t: TransportOptions) -> Result<(), Error> {
    let s = DavStorage::new(DavOptions::new(t, ItemKind::Calendar))?;
    let root = s.root_collection().await?;
    s.list(&root).await.map(|_| ())
}

fn transport(base: &str) -> TransportOptions {
    let mut t = dav_support::transport(base, "/cal/");
    t.retry.max_attempts = 1;
    t
}

/// The whole error chain as text, to check what the user would read.
fn chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

/// The last error of the chain: what the user reads at the end of the line.
fn innermost(e: &Error) -> &(dyn std::error::Error + 'static) {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur
}

fn cause(e: &Error) -> Option<&NetCause> {
    innermost(e).downcast_ref::<NetCause>()
}

#[tokio::test]
async fn default_verification_rejects_a_private_ca_naming_the_unknown_ca() {
    let base = serve(false).await;
    let err = list(transport(&base)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{}", chain(&err));
    assert_eq!(cause(&err), Some(&NetCause::UnknownCa), "{}", chain(&err));
    assert!(
        chain(&err).ends_with(&format!(
            "{base}/cal/: could not connect: network error: the server's certificate is not \
             signed by a trusted certificate authority (name its CA bundle with `verify = \
             \"/path/to/ca.pem\"`, or pin the certificate with `verify_fingerprint`)"
        )),
        "{}",
        chain(&err)
    );
}

#[tokio::test]
async fn a_refused_connection_is_named_with_host_and_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = list(transport(&format!("https://127.0.0.1:{port}")))
        .await
        .unwrap_err();
    assert_eq!(
        cause(&err),
        Some(&NetCause::ConnectionRefused {
            host: "127.0.0.1".into(),
            port
        }),
        "{}",
        chain(&err)
    );
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_named_as_a_dns_failure() {
    let err = list(transport("https://no-such-host.invalid"))
        .await
        .unwrap_err();
    assert_eq!(
        cause(&err),
        Some(&NetCause::Dns {
            host: "no-such-host.invalid".into()
        }),
        "{}",
        chain(&err)
    );
}

#[tokio::test]
async fn an_expired_certificate_is_named() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf.not_before = rcgen::date_time_ymd(2001, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls_pemfile::private_key(&mut leaf_key.serialize_pem().as_bytes())
        .unwrap()
        .unwrap();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let base = serve_config(config, EMPTY_MULTISTATUS.to_owned()).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, ca_cert.pem()).unwrap();
    let mut t = transport(&base);
    t.verify = Verify::CaBundle(bundle);
    let err = list(t).await.unwrap_err();
    assert_eq!(cause(&err), Some(&NetCause::CertExpired), "{}", chain(&err));
    assert!(
        chain(&err).ends_with(": the server's certificate has expired"),
        "{}",
        chain(&err)
    );
}

#[tokio::test]
async fn ca_bundle_is_used_for_verification() {
    let base = serve(false).await;
    let mut t = transport(&base);
    t.verify = Verify::CaBundle(data("ca.pem"));
    list(t).await.unwrap();
}

#[tokio::test]
async fn ca_bundle_of_another_ca_is_rejected() {
    let base = serve(false).await;
    let mut t = transport(&base);
    t.verify = Verify::CaBundle(data("other-ca.pem"));
    assert_eq!(list(t).await.unwrap_err().kind(), ErrorKind::Transport);
}

#[tokio::test]
async fn verify_false_accepts_any_certificate() {
    let base = serve(false).await;
    let mut t = transport(&base);
    t.verify = Verify::No;
    list(t).await.unwrap();
}

#[tokio::test]
async fn matching_pin_skips_chain_validation() {
    let base = serve(false).await;
    for form in [
        pin(),
        format!("sha256:{}", pin().to_uppercase()),
        pin()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":"),
    ] {
        let mut t = transport(&base);
        t.verify_fingerprint = Some(form.clone());
        list(t)
            .await
            .unwrap_or_else(|e| panic!("{form}: {}", chain(&e)));
    }
}

#[tokio::test]
async fn wrong_pin_is_rejected_naming_the_expected_and_the_presented_fingerprint() {
    let base = serve(false).await;
    let mut t = transport(&base);
    t.verify = Verify::No;
    t.verify_fingerprint = Some("00".repeat(32));
    let err = list(t).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    let presented = fingerprint_text(&parse_fingerprint(&pin()).unwrap());
    assert!(
        chain(&err).ends_with(&format!(
            ": the server's certificate does not match verify_fingerprint: expected \
             sha256:{}, the server presented sha256:{presented}",
            ["00"; 32].join(":")
        )),
        "{}",
        chain(&err)
    );
}

#[tokio::test]
async fn pin_with_a_ca_bundle_requires_both() {
    let base = serve(false).await;
    let mut t = transport(&base);
    t.verify = Verify::CaBundle(data("other-ca.pem"));
    t.verify_fingerprint = Some(pin());
    assert_eq!(list(t).await.unwrap_err().kind(), ErrorKind::Transport);

    let mut t = transport(&base);
    t.verify = Verify::CaBundle(data("ca.pem"));
    t.verify_fingerprint = Some(pin());
    list(t).await.unwrap();

    let mut t = transport(&base);
    t.verify = Verify::CaBundle(data("ca.pem"));
    t.verify_fingerprint = Some("ab".repeat(32));
    assert_eq!(list(t).await.unwrap_err().kind(), ErrorKind::Transport);
}

#[tokio::test]
async fn sha1_pin_is_refused_as_config_error() {
    let mut t = transport("https://127.0.0.1:1");
    t.verify_fingerprint = Some(
        std::fs::read_to_string(data("server.sha1"))
            .unwrap()
            .trim()
            .to_owned(),
    );
    let err = list(t).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("SHA-1"), "{err}");
}

#[tokio::test]
async fn client_certificate_is_presented() {
    let base = serve(true).await;
    let mut t = transport(&base);
    t.verify = Verify::CaBundle(data("ca.pem"));
    assert_eq!(
        list(t.clone()).await.unwrap_err().kind(),
        ErrorKind::Transport,
        "the server requires a client certificate"
    );
    t.client_cert = Some(data("client.pem"));
    list(t).await.unwrap();
}

#[tokio::test]
async fn unreadable_tls_files_are_config_errors_naming_them() {
    let mut t = transport("https://127.0.0.1:1");
    t.verify = Verify::CaBundle(data("missing.pem"));
    let err = list(t).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let mut t = transport("https://127.0.0.1:1");
    t.client_cert = Some(data("ca.pem"));
    let err = list(t).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("private key"), "{err}");
}

#[tokio::test]
async fn a_redirect_from_https_to_plain_http_is_refused() {
    let base = serve_with(
        false,
        "HTTP/1.1 301 Moved Permanently\r\nLocation: http://127.0.0.1:9/cal/\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
            .to_owned(),
    )
    .await;
    let mut t = transport(&base);
    t.verify = Verify::CaBundle(data("ca.pem"));
    let err = list(t).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.to_string().contains("plain http"), "{err}");
}

/// Serves an empty multistatus over HTTP/2 only (ALPN `h2`); returns the base URL and the
/// number of requests it answered.
async fn serve_h2_only() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let mut config = server_config(false);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut conn) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    assert_eq!(req.version(), http::Version::HTTP_2);
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let resp = http::Response::builder()
                        .status(207)
                        .header("content-type", "application/xml")
                        .body(())
                        .unwrap();
                    let Ok(mut body) = respond.send_response(resp, false) else {
                        return;
                    };
                    let _ = body.send_data(
                        bytes::Bytes::from_static(b"<d:multistatus xmlns:d=\"DAV:\"/>"),
                        true,
                    );
                }
            });
        }
    });
    (format!("https://127.0.0.1:{}", addr.port()), served)
}

#[tokio::test]
async fn http2_is_spoken_when_the_server_offers_it() {
    let (base, served) = serve_h2_only().await;
    let mut t = transport(&base);
    t.verify = Verify::CaBundle(data("ca.pem"));
    list(t).await.unwrap();
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}
