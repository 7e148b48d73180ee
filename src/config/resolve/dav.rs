//! The keys of the network storages (caldav, carddav, http): URL, credentials, TLS,
//! timeouts, connection and batch limits, the date range and item types.
//!
//! Apart from the local storages because this is most of the config's surface and has its
//! own rules (a password source, a certificate pin that must match what the TLS layer pins).

use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Utc};
use davsync_storages::net::Secret;
use toml::Spanned;

use super::storage::required;
use super::{
    AuthChoice, Ctx, DavParams, PasswordSource, StorageType, VerifyChoice, DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT_SECS, MAX_BATCH_SIZE, MAX_MAX_CONNECTIONS,
};
use crate::config::dates;
use crate::config::raw::{RawDate, RawPassword, RawPasswordTable, RawStorage, RawVerify};

pub(super) fn dav(
    cx: &mut Ctx,
    name: &Spanned<String>,
    st: &RawStorage,
    ty: StorageType,
    table: Range<usize>,
) -> Option<DavParams> {
    let sname = name.get_ref();
    let key = |k: &str| format!("storage.{sname}.{k}");
    let before = cx.problems.len();
    let url = required(cx, st.url.as_ref(), name, &key("url"))?;
    let mut url_text = url.get_ref().trim().to_owned();
    let lower = url_text.to_ascii_lowercase();
    if ty == StorageType::Http
        && (lower.starts_with("webcal://") || lower.starts_with("webcals://"))
    {
        url_text = format!(
            "https://{}",
            &url_text[url_text.find("://").unwrap_or(0) + 3..]
        );
    } else if !(lower.starts_with("http://") || lower.starts_with("https://"))
        || url_text.len() <= lower.find("://").unwrap_or(0) + 3
    {
        cx.err(
            url.span(),
            format!(
                "{}: {:?} is not an http:// or https:// URL",
                key("url"),
                url.get_ref()
            ),
        );
    }

    if cx.problems.len() == before {
        if let Err(e) = url::Url::parse(&url_text) {
            cx.err(
                url.span(),
                format!("{}: {:?}: {e}", key("url"), url.get_ref()),
            );
        }
    }

    let password = st.password.as_ref().and_then(|p| {
        let span = RawStorage::key_span(cx.source, table.clone(), "password");
        match password_source(p) {
            Ok(src) => Some((src, span)),
            Err(msg) => {
                cx.err(span, format!("{}: {msg}", key("password")));
                None
            }
        }
    });

    let auth = match st.auth.as_ref().map(|a| (a.get_ref().as_str(), a.span())) {
        None | Some(("guess", _)) => AuthChoice::Guess,
        Some(("basic", _)) => AuthChoice::Basic,
        Some(("digest", _)) => AuthChoice::Digest,
        Some(("bearer", _)) => AuthChoice::Bearer,
        Some((other, span)) => {
            cx.err(
                span,
                format!(
                    "{}: unknown auth {other:?} (expected \"basic\", \"digest\", \"bearer\" or \"guess\")",
                    key("auth")
                ),
            );
            AuthChoice::Guess
        }
    };
    if auth == AuthChoice::Bearer && password.is_none() {
        let span = st.auth.as_ref().map(|a| a.span()).unwrap_or_default();
        cx.err(
            span,
            format!("{}: \"bearer\" needs the token in `password`", key("auth")),
        );
    }

    let verify = match st.verify.as_ref() {
        None => VerifyChoice::Yes,
        Some(v) => match v.get_ref() {
            RawVerify::Bool(true) => VerifyChoice::Yes,
            RawVerify::Bool(false) => VerifyChoice::No,
            RawVerify::CaBundle(s) => {
                let spanned = Spanned::new(v.span(), s.clone());
                match cx.path(&key("verify"), &spanned) {
                    Some(p) => VerifyChoice::CaBundle(p),
                    None => VerifyChoice::Yes,
                }
            }
        },
    };

    let verify_fingerprint =
        st.verify_fingerprint
            .as_ref()
            .and_then(|f| match fingerprint(f.get_ref()) {
                Ok(fp) => Some(fp),
                Err(msg) => {
                    cx.err(f.span(), format!("{}: {msg}", key("verify_fingerprint")));
                    None
                }
            });

    let client_cert = st
        .client_cert
        .as_ref()
        .and_then(|c| cx.path(&key("client_cert"), c));

    let timeout = match st.timeout.as_ref() {
        None => Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        Some(t) => {
            let secs = t.get_ref().0;
            match secs {
                s if s > 0.0 && s.is_finite() && s < 1e9 => Duration::from_secs_f64(s),
                _ => {
                    cx.err(
                        t.span(),
                        format!("{}: expected a positive number of seconds", key("timeout")),
                    );
                    Duration::from_secs(DEFAULT_TIMEOUT_SECS)
                }
            }
        }
    };

    let mut count = |k: &str, v: Option<&Spanned<i64>>, default: usize, max: usize| -> usize {
        let Some(v) = v else { return default };
        match usize::try_from(*v.get_ref()) {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                cx.err(
                    v.span(),
                    format!("{}: expected a whole number from 1 to {max}", key(k)),
                );
                default
            }
        }
    };
    let max_connections = count(
        "max_connections",
        st.max_connections.as_ref(),
        DEFAULT_MAX_CONNECTIONS,
        MAX_MAX_CONNECTIONS,
    );
    let batch_size = count(
        "batch_size",
        st.batch_size.as_ref(),
        DEFAULT_BATCH_SIZE,
        MAX_BATCH_SIZE,
    );

    let mut date = |k: &str, v: Option<&Spanned<RawDate>>| -> Option<DateTime<Utc>> {
        let v = v?;
        match dates::parse(&v.get_ref().0, cx.now) {
            Ok(d) => Some(d),
            Err(msg) => {
                cx.err(v.span(), format!("{}: {msg}", key(k)));
                None
            }
        }
    };
    let start_date = date("start_date", st.start_date.as_ref());
    let end_date = date("end_date", st.end_date.as_ref());
    if let (Some(s), Some(e), Some(span)) =
        (start_date, end_date, st.end_date.as_ref().map(|e| e.span()))
    {
        if e <= s {
            cx.err(
                span,
                format!("{}: must be after start_date", key("end_date")),
            );
        }
    }

    let item_types = st.item_types.as_ref().map(|t| {
        let mut out = Vec::new();
        for ty in t.get_ref() {
            let up = ty.to_ascii_uppercase();
            if ["VEVENT", "VTODO", "VJOURNAL"].contains(&up.as_str()) {
                out.push(up);
            } else {
                cx.err(
                    t.span(),
                    format!(
                        "{}: unknown component {ty:?} (expected \"VEVENT\", \"VTODO\" or \"VJOURNAL\")",
                        key("item_types")
                    ),
                );
            }
        }
        if out.is_empty() && cx.problems.len() == before {
            cx.err(t.span(), format!("{}: must not be empty", key("item_types")));
        }
        out
    });

    if cx.problems.len() > before {
        return None;
    }
    Some(DavParams {
        url: url_text,
        username: st.username.as_ref().map(|u| u.get_ref().clone()),
        password,
        auth,
        verify,
        verify_fingerprint,
        client_cert,
        timeout,
        max_connections,
        batch_size,
        start_date,
        end_date,
        item_types,
    })
}

fn password_source(v: &RawPassword) -> Result<PasswordSource, String> {
    match v {
        RawPassword::Literal(s) => Ok(PasswordSource::Literal(Secret::new(s.clone()))),
        RawPassword::Table(t) => {
            let t: &RawPasswordTable = t;
            match (t.command.clone(), t.env.clone(), t.keyring.as_ref()) {
                (Some(c), None, None) => {
                    if c.is_empty() {
                        Err("password.command must name a program".into())
                    } else {
                        Ok(PasswordSource::Command(c))
                    }
                }
                (None, Some(e), None) => Ok(PasswordSource::Env(e)),
                (None, None, Some(k)) => Ok(PasswordSource::Keyring {
                    service: k.service.clone(),
                    username: k.username.clone(),
                }),
                _ => Err("expected exactly one of `command`, `env` or `keyring`".into()),
            }
        }
    }
}

/// Normalizes a SHA-256 pin (hex in any case, colons optional, `sha256:` prefix optional) to
/// lowercase hex, with the storages' own parser, so the config accepts exactly what the TLS
/// layer pins.
pub fn fingerprint(text: &str) -> Result<String, String> {
    davsync_storages::net::parse_fingerprint(text)
        .map(hex::encode)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::tests::parse;
    use crate::config::{Config, StorageParams};

    #[test]
    fn fingerprint_spellings_normalize_to_lowercase_hex() {
        let hex = "0123456789abcdef".repeat(4);
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        for spelling in [
            hex.clone(),
            format!("SHA256:{colons}"),
            format!("sha256:{hex}"),
            colons,
        ] {
            assert_eq!(fingerprint(&spelling).unwrap(), hex, "{spelling}");
        }
    }

    #[test]
    fn sha1_pins_are_refused_in_both_forms() {
        assert!(fingerprint(&"ab".repeat(20)).unwrap_err().contains("SHA-1"));
        assert!(fingerprint(&format!("sha1:{}", "ab".repeat(20)))
            .unwrap_err()
            .contains("SHA-1"));
    }

    #[test]
    fn max_connections_and_batch_size_default_and_take_their_values() {
        let text = |extra: &str| {
            format!(
                "[storage.r]\ntype = \"carddav\"\nurl = \"https://x.example/\"\n{extra}\n\
                 [storage.l]\ntype = \"vdir\"\npath = \"/abs\"\n\
                 [pair.p]\na = \"l\"\nb = \"r\"\n"
            )
        };
        let dav = |c: &Config| match &c.storages["r"].params {
            StorageParams::Dav(d) => (d.max_connections, d.batch_size),
            other => panic!("{other:?}"),
        };
        assert_eq!(dav(&parse(&text("")).unwrap()), (4, 100));
        let c = parse(&text("max_connections = 8\nbatch_size = 500")).unwrap();
        assert_eq!(dav(&c), (8, 500));
        for bad in [
            "max_connections = 0",
            "max_connections = 65",
            "batch_size = -1",
        ] {
            let e = parse(&text(bad)).unwrap_err().to_string();
            let k = bad.split(' ').next().unwrap();
            let max = if k == "batch_size" { "10000" } else { "64" };
            assert!(
                e.contains(&format!(
                    "storage.r.{k}: expected a whole number from 1 to {max}"
                )),
                "{e}"
            );
        }
        // Keys of the network storages only.
        let e = parse(
            "[storage.l]\ntype = \"vdir\"\npath = \"/abs\"\nbatch_size = 5\n\
             [storage.m]\ntype = \"vdir\"\npath = \"/b\"\n[pair.p]\na = \"l\"\nb = \"m\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("storage.l.batch_size"), "{e}");
    }
}
