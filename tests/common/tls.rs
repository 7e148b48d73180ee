//! Throwaway certificates for the TLS tests: a private CA and a leaf for `127.0.0.1` and
//! `localhost` signed by it, generated fresh per test with `rcgen`, never trusted by the
//! system, so a connection succeeds only through the `verify` bundle or the pinned fingerprint.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct TestCerts {
    /// The CA certificate (what a `verify = "<bundle>"` file holds).
    pub ca_pem: String,
    /// The server's leaf certificate.
    pub cert_pem: String,
    pub key_pem: String,
    /// SHA-256 of the leaf's DER, as `AB:CD:...` (the form `openssl x509 -fingerprint` prints).
    pub fingerprint: String,
}

pub struct ServerFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCerts {
    pub fn generate() -> TestCerts {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "davsync test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let digest = Sha256::digest(leaf.der());
        let fingerprint = digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        TestCerts {
            ca_pem: ca_cert.pem(),
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
            fingerprint,
        }
    }

    pub fn write_server_files(&self, dir: &Path) -> ServerFiles {
        let cert = dir.join("server-cert.pem");
        let key = dir.join("server-key.pem");
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        ServerFiles { cert, key }
    }

    /// Writes the CA bundle a client should trust.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let p = dir.join("test-ca.pem");
        std::fs::write(&p, &self.ca_pem).unwrap();
        p
    }
}
