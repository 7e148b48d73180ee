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

/// Parses a `verify_fingerprint` value into the 32 bytes of a SHA-256 digest.
///
/// Accepts hex in any case, with or without colons, with or without a `sha256:` prefix.
/// A 20-byte (SHA-1) pin is refused: SHA-1 no longer pins a certificate safely.
pub fn parse_fingerprint(value: &str) -> Result<[u8; 32]> {
    let trimmed = value.trim();
    let body = match trimmed.split_once(':') {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("sha256") => rest,
        Some((prefix, _)) if prefix.len() > 2 => {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "verify_fingerprint: unsupported digest {prefix:?}; give the certificate's \
                     SHA-256 fingerprint"
                ),
            ))
        }
        _ => trimmed,
    };
    let hex_digits: String = body.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&hex_digits).map_err(|_| {
        Error::new(
            ErrorKind::Config,
            format!("verify_fingerprint: {value:?} is not a hexadecimal SHA-256 fingerprint"),
        )
    })?;
    match bytes.len() {
        32 => Ok(bytes.try_into().expect("length checked")),
        20 => Err(Error::new(
            ErrorKind::Config,
            "verify_fingerprint: this is a SHA-1 fingerprint, which is refused as too weak; \
             give the certificate's SHA-256 fingerprint",
        )),
        n => Err(Error::new(
            ErrorKind::Config,
            format!("verify_fingerprint: expected a SHA-256 fingerprint (32 bytes), got {n} bytes"),
        )),
    }
}

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
        .transpose()?;

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
                return Err(rustls::Error::General(format!(
                    "certificate fingerprint mismatch: server presented sha256:{}, \
                     verify_fingerprint expects sha256:{}",
                    hex::encode(actual),
                    hex::encode(pin)
                )));
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
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("SHA-1"), "{err}");
        let err = parse_fingerprint(&format!("sha1:{sha1}")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
    }

    #[test]
    fn garbage_fingerprint_is_a_config_error() {
        assert_eq!(
            parse_fingerprint("not hex").unwrap_err().kind(),
            ErrorKind::Config
        );
        assert_eq!(
            parse_fingerprint("abcd").unwrap_err().kind(),
            ErrorKind::Config
        );
    }
}
