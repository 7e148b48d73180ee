//! Href normalization: one canonical spelling per resource path.
//!
//! Servers answer with relative paths, absolute paths or full URLs, percent-encoded or not
//! (`/cal/a%20b.ics`, `/cal/a b.ics`, `/cal/alice%40example.com/`). The sync status compares
//! hrefs across runs, so every href is reduced to an absolute path whose segments are
//! percent-decoded and re-encoded with one fixed set: unreserved characters, sub-delims, `:`
//! and `@` stay literal, everything else (space, `%`, `/` inside a segment, non-ASCII) is
//! encoded. The result is directly usable in a URL.

use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, CONTROLS};
use url::Url;

use super::ProtoError;

/// What a path segment keeps encoded: everything but RFC 3986 `pchar` minus `%`.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Resolves an href from a response against the request URL and returns its canonical
/// absolute path (see the module docs). A full URL is reduced to its path, whatever its host.
pub fn normalize_href(base: &Url, raw: &str) -> Result<String, ProtoError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ProtoError::InvalidHref {
            href: raw.to_owned(),
        });
    }
    let url = base.join(trimmed).map_err(|_| ProtoError::InvalidHref {
        href: raw.to_owned(),
    })?;
    Ok(canonical_path(url.path()))
}

/// The canonical spelling of an absolute path (or of a path already in a [`Url`]): each
/// segment percent-decoded and re-encoded with the module's fixed set.
pub fn canonical_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 || !segment.is_empty() {
            out.push('/');
        }
        let decoded: Vec<u8> = percent_decode_str(segment).collect();
        out.extend(percent_encode(&decoded, SEGMENT));
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}
