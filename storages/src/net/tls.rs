//! The rustls configuration behind `verify`, `verify_fingerprint` and `client_cert`.
//!
//! | verify      | pin  | what must hold                                        |
//! |-------------|------|-------------------------------------------------------|
//! | true        | no   | chain to a web PKI root, name matches                  |
//! | true/false  | yes  | the leaf's SHA-256 equals the pin (chain not checked)  |
//! | false       | no   | nothing (handshake signatures still verified)          |
//! | CA bundle   | no   | chain to a root of the bundle, name matches            |
//! | CA bundle   | yes  | both of the above                                      |

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use super::{TransportOptions, Verify};
use crate::error::{Error, ErrorKind, Result};

/// Why a `verify_fingerprint` value is refused. `Display` says it without naming the key, so
/// the config layer can put its own location in front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintError {
    /// A SHA-1 pin (20 bytes, or a `sha1:` prefix).
    Sha1,
    /// Another `digest:` prefix.
    UnsupportedDigest(String),
    NotHex(String),
    /// Hex of the wrong length (in hex digits).
    Length(usize),
}

impl std::fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FingerprintError::Sha1 => f.write_str(
                "this is a SHA-1 fingerprint, which is refused as too weak; pin the \
                 certificate's SHA-256 (32 bytes)",
            ),
            FingerprintError::UnsupportedDigest(d) => write!(
                f,
                "unsupported digest {d:?}; pin the certificate's SHA-256 (\"sha256:AB:CD:...\")"
            ),
            FingerprintError::NotHex(v) => write!(
                f,
                "{v:?} is not a hexadecimal SHA-256 fingerprint (e.g. \"sha256:AB:CD:...\")"
            ),
            FingerprintError::Length(n) => write!(
                f,
                "a SHA-256 fingerprint has 32 bytes (64 hex digits), this one has {n} hex digits"
            ),
        }
    }
}

impl std::error::Error for FingerprintError {}

/// Parses a `verify_fingerprint` value into the 32 bytes of a SHA-256 digest: the one parser
/// of pins (the config validates with it, the TLS layer pins with it).
///
/// Accepts hex in any case, with or without colons, with or without a `sha256:` prefix.
/// A SHA-1 pin is refused: SHA-1 no longer pins a certificate safely.
pub fn parse_fingerprint(value: &str) -> std::result::Result<[u8; 32], FingerprintError> {
    let trimmed = value.trim();
    let body = match trimmed.split_once(':') {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("sha256") => rest,
        Some((prefix, _)) if prefix.eq_ignore_ascii_case("sha1") => {
            return Err(FingerprintError::Sha1)
        }
        Some((prefix, _)) if prefix.len() > 2 => {
            return Err(FingerprintError::UnsupportedDigest(prefix.to_owned()))
        }
        _ => trimmed,
    };
    let hex_digits: String = body.chars().filter(|c| *c != ':').collect();
    if !hex_digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(FingerprintError::NotHex(value.to_owned()));
    }
    match hex_digits.len() {
        64 => {
            let bytes = hex::decode(&hex_digits).expect("64 hex digits");
            Ok(bytes.try_into().expect("length checked"))
        }
        40 => Err(FingerprintError::Sha1),
        n => Err(FingerprintError::Length(n)),
    }
}

/// A SHA-256 fingerprint as `openssl x509 -fingerprint` prints it (and as
/// `verify_fingerprint` takes it): `AB:CD:...`.
pub fn fingerprint_text(bytes: &[u8; 32]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The presented leaf certificate is not the pinned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinMismatch {
    pub expected: [u8; 32],
    pub presented: [u8; 32],
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server's certificate does not match verify_fingerprint: expected sha256:{}, \
             the server presented sha256:{}",
            fingerprint_text(&self.expected),
            fingerprint_text(&self.presented)
        )
    }
}

impl std::error::Error for PinMismatch {}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, what)
}

fn load_ca_bundle(path: &Path) -> Result<RootCertStore> {
    let data = std::fs::read(path).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("verify: CA bundle {}", path.display()),
        )
        .with_source(e)
    })?;
    let mut store = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut data.as_slice()) {
        let cert = cert.map_err(|e| {
            config_error(format!("verify: CA bundle {}", path.display())).with_source(e)
        })?;
        store.add(cert).map_err(|e| {
            config_error(format!("verify: CA bundle {}", path.display())).with_source(e)
        })?;
    }
    if store.is_empty() {
        return Err(config_error(format!(
            "verify: CA bundle {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(store)
}

fn load_client_cert(path: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let ctx = || format!("client_cert {}", path.display());
    let data =
        std::fs::read(path).map_err(|e| Error::new(ErrorKind::Config, ctx()).with_source(e))?;
    let certs = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(ctx()).with_source(e))?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{}: no PEM certificate in the file",
            ctx()
        )));
    }
    let key = rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|e| config_error(ctx()).with_source(e))?
        .ok_or_else(|| config_error(format!("{}: no PEM private key in the file", ctx())))?;
    Ok((certs, key))
}

/// Builds the rustls client configuration for these options.
pub(super) fn client_config(opts: &TransportOptions) -> Result<ClientConfig> {
    let provider = provider();
    let pin = opts
        .verify_fingerprint
        .as_deref()
        .map(parse_fingerprint)
        .transpose()
        .map_err(|e| config_error(format!("verify_fingerprint: {e}")))?;

    let chain: Option<Arc<WebPkiServerVerifier>> = match (&opts.verify, pin) {
        (Verify::CaBundle(path), _) => Some(build_webpki(load_ca_bundle(path)?, &provider)?),
        (Verify::Yes, None) => {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Some(build_webpki(roots, &provider)?)
        }
        (Verify::Yes, Some(_)) | (Verify::No, _) => None,
    };
    let verifier = Arc::new(Verifier {
        chain,
        pin,
        provider: provider.clone(),
    });

    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("TLS protocol versions").with_source(e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &opts.client_cert {
        Some(path) => {
            let (certs, key) = load_client_cert(path)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                config_error(format!("client_cert {}", path.display())).with_source(e)
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn build_webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| config_error("TLS certificate verifier").with_source(e))
}

/// Chain validation (when configured), then the pin (when configured). Handshake signatures
/// are always verified against the presented leaf, so a pinned or unverified connection still
/// proves possession of that certificate's key.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    pin: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(chain) = &self.chain {
            chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if let Some(pin) = &self.pin {
            let actual: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
            if &actual != pin {
                // Typed, so the error reaching the user can name both fingerprints.
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                        expected: *pin,
                        presented: actual,
                    }))),
                ));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn fingerprint_accepts_prefix_colons_and_any_case() {
        let want = parse_fingerprint(HEX).unwrap();
        let colons: Vec<String> = HEX
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8(c.to_vec()).unwrap().to_uppercase())
            .collect();
        let colons = colons.join(":");
        assert_eq!(parse_fingerprint(&colons).unwrap(), want);
        assert_eq!(
            parse_fingerprint(&format!("sha256:{colons}")).unwrap(),
            want
        );
        assert_eq!(parse_fingerprint(&format!("SHA256:{HEX}")).unwrap(), want);
        assert_eq!(want[0], 0x01);
    }

    #[test]
    fn sha1_fingerprint_is_refused_with_a_clear_message() {
        let sha1 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01";
        let err = parse_fingerprint(sha1).unwrap_err();
        assert_eq!(err, FingerprintError::Sha1);
        assert!(err.to_string().contains("SHA-1"), "{err}");
        let err = parse_fingerprint(&format!("sha1:{sha1}")).unwrap_err();
        assert_eq!(err, FingerprintError::Sha1);
    }

    #[test]
    fn garbage_fingerprint_is_refused_naming_the_value() {
        assert_eq!(
            parse_fingerprint("not hex").unwrap_err(),
            FingerprintError::NotHex("not hex".into())
        );
        assert_eq!(
            parse_fingerprint("abcd").unwrap_err(),
            FingerprintError::Length(4)
        );
        assert_eq!(
            parse_fingerprint("md5:abcd").unwrap_err(),
            FingerprintError::UnsupportedDigest("md5".into())
        );
    }

    #[test]
    fn fingerprint_text_is_what_verify_fingerprint_takes_back() {
        let bytes = parse_fingerprint(HEX).unwrap();
        let text = fingerprint_text(&bytes);
        assert!(text.starts_with("01:23:45:67:89:AB:CD:EF:01"), "{text}");
        assert_eq!(parse_fingerprint(&text).unwrap(), bytes);
    }
}
