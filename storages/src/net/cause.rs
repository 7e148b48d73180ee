//! Why a request never got an answer, in words a user can act on.
//!
//! reqwest reports a refused connection or a rejected certificate three or four errors deep
//! (`error sending request` > `client error (Connect)` > an I/O error > the rustls error),
//! each layer's text saying little. [`classify`] finds the cause that matters and names it
//! as a [`NetCause`], which then ends the storage error's chain: renderers print the
//! context and this cause, nothing in between.

use std::error::Error as StdError;
use std::fmt;

use rustls::CertificateError;
use url::Url;

use super::tls::PinMismatch;

/// The reason a connection to a server failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCause {
    /// The certificate chain does not end at a trusted CA.
    UnknownCa,
    CertExpired,
    CertNotValidYet,
    /// The certificate does not name the host we connected to.
    CertWrongHost {
        host: String,
    },
    /// `verify_fingerprint` names another certificate.
    PinMismatch(PinMismatch),
    /// Another TLS failure (rustls' own words).
    Tls(String),
    ConnectionRefused {
        host: String,
        port: u16,
    },
    /// The host name does not resolve.
    Dns {
        host: String,
    },
}

impl fmt::Display for NetCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetCause::UnknownCa => f.write_str(
                "the server's certificate is not signed by a trusted certificate authority \
                 (name its CA bundle with `verify = \"/path/to/ca.pem\"`, or pin the \
                 certificate with `verify_fingerprint`)",
            ),
            NetCause::CertExpired => f.write_str("the server's certificate has expired"),
            NetCause::CertNotValidYet => f.write_str(
                "the server's certificate is not valid yet (is this computer's clock right?)",
            ),
            NetCause::CertWrongHost { host } => {
                write!(f, "the server's certificate is not valid for {host}")
            }
            NetCause::PinMismatch(p) => p.fmt(f),
            NetCause::Tls(why) => write!(f, "the TLS handshake failed: {why}"),
            NetCause::ConnectionRefused { host, port } => write!(
                f,
                "connection refused by {host} port {port} (is the server running, and the \
                 URL's port right?)"
            ),
            NetCause::Dns { host } => write!(
                f,
                "the host name {host} could not be resolved (DNS); check the URL and the \
                 network"
            ),
        }
    }
}

impl StdError for NetCause {}

/// The cause of a failed request, when it is one a user can act on; `None` leaves the
/// error as it came.
pub fn classify(err: &(dyn StdError + 'static), url: &Url) -> Option<NetCause> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(from_rustls(tls, &host));
        }
        let mut next = e.source();
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return Some(NetCause::ConnectionRefused {
                    host,
                    port: url.port_or_known_default().unwrap_or_default(),
                });
            }
            // An I/O error's `source` skips the error it wraps (itself often another I/O
            // error wrapping the rustls one): step into it instead.
            if let Some(inner) = io.get_ref() {
                next = Some(inner as &(dyn StdError + 'static));
            }
        }
        // hyper-util's resolver failure has no type of its own to downcast to.
        if e.to_string() == "dns error" {
            return Some(NetCause::Dns { host });
        }
        cur = next;
    }
    None
}

fn from_rustls(e: &rustls::Error, host: &str) -> NetCause {
    let rustls::Error::InvalidCertificate(cert) = e else {
        return NetCause::Tls(e.to_string());
    };
    match cert {
        CertificateError::UnknownIssuer => NetCause::UnknownCa,
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            NetCause::CertExpired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            NetCause::CertNotValidYet
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            NetCause::CertWrongHost {
                host: host.to_owned(),
            }
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<PinMismatch>() {
            Some(pin) => NetCause::PinMismatch(pin.clone()),
            None => NetCause::Tls(e.to_string()),
        },
        _ => NetCause::Tls(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn url() -> Url {
        Url::parse("https://dav.example.com:8443/cal/").unwrap()
    }

    /// The shape in which reqwest hands a TLS failure over: wrapped in an I/O error.
    fn wrapped(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn certificate_failures_are_named() {
        let unknown = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert_eq!(classify(&unknown, &url()), Some(NetCause::UnknownCa));
        let expired = wrapped(rustls::Error::InvalidCertificate(CertificateError::Expired));
        assert_eq!(classify(&expired, &url()), Some(NetCause::CertExpired));
        let pin = PinMismatch {
            expected: [1; 32],
            presented: [2; 32],
        };
        let mismatch = wrapped(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(pin.clone())),
        )));
        let cause = classify(&mismatch, &url()).unwrap();
        assert_eq!(cause, NetCause::PinMismatch(pin));
        assert_eq!(
            cause.to_string(),
            format!(
                "the server's certificate does not match verify_fingerprint: expected \
                 sha256:{}, the server presented sha256:{}",
                ["01"; 32].join(":"),
                ["02"; 32].join(":")
            )
        );
    }

    #[test]
    fn a_refused_connection_names_host_and_port() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            classify(&refused, &url()).unwrap().to_string(),
            "connection refused by dav.example.com port 8443 (is the server running, and the \
             URL's port right?)"
        );
    }

    #[test]
    fn other_errors_are_left_alone() {
        let other = std::io::Error::other("something else");
        assert_eq!(classify(&other, &url()), None);
    }
}
