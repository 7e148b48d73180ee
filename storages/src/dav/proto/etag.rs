//! Etags as servers send them.
//!
//! `getetag` values come strong (`"abc"`), weak (`W/"abc"`) or, from some servers, without
//! quotes (`abc`). Parsers return them exactly as sent (surrounding whitespace trimmed), so the
//! value stored in the sync status changes exactly when the server's does. An empty or
//! missing `getetag` is `None`: the storage then has to fetch the item and use a hash of its
//! content as version.
//!
//! For `If-Match`, RFC 7232 requires a strong comparison: a weak etag never matches. The
//! storage therefore cannot make a conditional write with a weak etag; it must re-read the
//! item (GET) and use the strong `ETag` header of that response, or, when there is none,
//! refuse the write rather than overwrite blindly.

/// Normalizes a `getetag` text: trims whitespace; empty means none.
pub fn parse_etag(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// True for a weak etag (`W/"..."`).
pub fn is_weak(etag: &str) -> bool {
    let t = etag.trim_start();
    t.starts_with("W/") || t.starts_with("w/")
}

/// The value for an `If-Match` header: a strong etag as sent, an unquoted one quoted; `None`
/// for a weak etag, which cannot be used there (see the module docs for the fallback).
pub fn if_match_value(etag: &str) -> Option<String> {
    let t = etag.trim();
    if t.is_empty() || is_weak(t) {
        return None;
    }
    let inner = match t.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner,
        None => t,
    };
    // An entity-tag cannot contain a double quote: such a value cannot be sent back intact.
    if inner.contains('"') {
        return None;
    }
    Some(format!("\"{inner}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_kept_as_sent_but_trimmed() {
        assert_eq!(parse_etag(" \"abc\"\n"), Some("\"abc\"".into()));
        assert_eq!(parse_etag("W/\"abc\""), Some("W/\"abc\"".into()));
        assert_eq!(parse_etag("abc"), Some("abc".into()));
        assert_eq!(parse_etag("  "), None);
    }

    #[test]
    fn weak_etags_cannot_be_used_for_if_match() {
        assert!(is_weak("W/\"abc\""));
        assert!(!is_weak("\"abc\""));
        assert_eq!(if_match_value("W/\"abc\""), None);
    }

    #[test]
    fn strong_etags_go_into_if_match_quoted() {
        assert_eq!(if_match_value("\"abc\""), Some("\"abc\"".into()));
        assert_eq!(if_match_value("abc-123"), Some("\"abc-123\"".into()));
        assert_eq!(if_match_value("\"a\"b\""), None);
        assert_eq!(if_match_value("\""), None);
    }
}
