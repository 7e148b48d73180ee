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

/// The last non-empty segment of a path, percent-decoded (invalid UTF-8 replaced): the name
/// of a collection as users see it (`/cal/my%20work/` gives `my work`). Empty for `/`.
pub fn last_segment(path: &str) -> String {
    path.split('/')
        .rev()
        .find(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .unwrap_or_default()
}

/// True when `value` is just the (percent-decoded) `path`, leading and trailing slashes
/// aside: what a server shows as the name of a collection nobody named.
pub fn is_path_of(value: &str, path: &str) -> bool {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let value = value.trim().trim_matches('/');
    !value.is_empty() && value == decoded.trim_matches('/')
}

/// The hrefs a multiget asked for, to file each href of the answer under the spelling that
/// was asked. Exchange through DavMail answers with the case it stores
/// (`/users/Alice.Smith@example.com/calendar/AAMk...EML`) whatever case was asked
/// (`/users/alice.smith@...`), and the case of a listing's hrefs changes between runs. An
/// answered href that was not asked is taken for the asked href it equals but for ASCII
/// case, when exactly one asked href does; otherwise it is kept as answered (and the asked
/// one is read on its own). Equality is never loosened beyond that: on a server where case
/// matters, `a.ics` and `A.ics` are two items.
#[derive(Debug)]
pub struct AskedHrefs {
    exact: std::collections::HashSet<String>,
    /// Lowercased href -> the asked href, `None` when two asked hrefs fold to it.
    folded: std::collections::HashMap<String, Option<String>>,
}

impl AskedHrefs {
    pub fn new(asked: &[String]) -> Self {
        let mut folded = std::collections::HashMap::new();
        for a in asked {
            folded
                .entry(a.to_ascii_lowercase())
                .and_modify(|v: &mut Option<String>| {
                    if v.as_deref() != Some(a.as_str()) {
                        *v = None;
                    }
                })
                .or_insert_with(|| Some(a.clone()));
        }
        AskedHrefs {
            exact: asked.iter().cloned().collect(),
            folded,
        }
    }

    /// The asked spelling of an answered (canonical) href.
    pub fn resolve(&self, answered: String) -> String {
        if self.exact.contains(&answered) {
            return answered;
        }
        match self.folded.get(&answered.to_ascii_lowercase()) {
            Some(Some(asked)) => asked.clone(),
            _ => answered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_in_another_case_is_filed_under_the_asked_href() {
        let asked = vec![
            "/users/alice@example.com/calendar/AAMk%3D.EML".to_owned(),
            "/cal/a.ics".to_owned(),
            "/cal/A.ics".to_owned(),
        ];
        let m = AskedHrefs::new(&asked);
        assert_eq!(
            m.resolve("/users/Alice@Example.com/calendar/AAMk%3D.EML".into()),
            asked[0]
        );
        // Two asked hrefs differ only by case: each answer keeps its own spelling.
        assert_eq!(m.resolve("/cal/A.ics".into()), "/cal/A.ics");
        assert_eq!(m.resolve("/cal/a.ics".into()), "/cal/a.ics");
        assert_eq!(m.resolve("/cal/a.ICS".into()), "/cal/a.ICS");
        assert_eq!(m.resolve("/other.ics".into()), "/other.ics");
    }

    #[test]
    fn a_displayname_that_is_the_collection_path_is_recognized() {
        assert!(is_path_of("alice/work", "/alice/work/"));
        assert!(is_path_of("/alice/my work/", "/alice/my%20work/"));
        assert!(!is_path_of("Work", "/alice/work/"));
        assert!(!is_path_of("work", "/alice/work/"));
        assert!(!is_path_of("", "/"));
    }

    fn base() -> Url {
        Url::parse("https://dav.example.com/cal/work/").unwrap()
    }

    fn norm(raw: &str) -> String {
        normalize_href(&base(), raw).unwrap()
    }

    #[test]
    fn encoded_and_unencoded_spellings_are_equal() {
        assert_eq!(norm("/cal/work/a%20b.ics"), "/cal/work/a%20b.ics");
        assert_eq!(norm("/cal/work/a b.ics"), "/cal/work/a%20b.ics");
        assert_eq!(norm("/cal/work/%61b.ics"), "/cal/work/ab.ics");
    }

    #[test]
    fn relative_hrefs_resolve_against_the_request_url() {
        assert_eq!(norm("a.ics"), "/cal/work/a.ics");
        assert_eq!(norm("../home/b.ics"), "/cal/home/b.ics");
        assert_eq!(norm("./"), "/cal/work/");
    }

    #[test]
    fn absolute_urls_are_reduced_to_their_path() {
        assert_eq!(
            norm("https://dav.example.com/cal/work/a.ics"),
            "/cal/work/a.ics"
        );
        assert_eq!(
            norm("http://other.example:8080/cal/work/a%20b.ics"),
            "/cal/work/a%20b.ics"
        );
    }

    #[test]
    fn at_signs_stay_literal_whether_encoded_or_not() {
        assert_eq!(
            norm("/alice%40example.com/calendar/"),
            "/alice@example.com/calendar/"
        );
        assert_eq!(
            norm("/alice@example.com/calendar/"),
            "/alice@example.com/calendar/"
        );
    }

    #[test]
    fn an_encoded_slash_stays_inside_its_segment() {
        assert_eq!(norm("/cal/work/a%2Fb.ics"), "/cal/work/a%2Fb.ics");
        assert_eq!(norm("/cal/work/a%2fb.ics"), "/cal/work/a%2Fb.ics");
    }

    #[test]
    fn non_ascii_and_reserved_characters_are_encoded_once() {
        assert_eq!(norm("/cal/work/caf\u{e9}.ics"), "/cal/work/caf%C3%A9.ics");
        assert_eq!(norm("/cal/work/caf%c3%a9.ics"), "/cal/work/caf%C3%A9.ics");
        assert_eq!(norm("/cal/work/100%25.ics"), "/cal/work/100%25.ics");
        assert_eq!(norm("/cal/work/a+b=c;d.ics"), "/cal/work/a+b=c;d.ics");
    }

    #[test]
    fn empty_hrefs_are_invalid() {
        assert!(matches!(
            normalize_href(&base(), "  "),
            Err(ProtoError::InvalidHref { .. })
        ));
    }

    #[test]
    fn last_segment_is_the_decoded_collection_name() {
        assert_eq!(last_segment("/cal/my%20work/"), "my work");
        assert_eq!(last_segment("/alice%40example.com"), "alice@example.com");
        assert_eq!(last_segment("/cal/a%2Fb/"), "a/b");
        assert_eq!(last_segment("/"), "");
    }

    #[test]
    fn canonical_path_is_idempotent() {
        for p in ["/", "/a b/c%2Fd/", "/x/%E2%82%AC@:;,.ics", "/caf\u{e9}"] {
            let once = canonical_path(p);
            assert_eq!(canonical_path(&once), once, "{p}");
            assert!(once.starts_with('/'));
        }
        assert_eq!(canonical_path(""), "/");
    }

    proptest::proptest! {
        #[test]
        fn any_segment_compares_equal_encoded_or_not(seg in "[a-zA-Z0-9 @:+&=;,!$'()*~_\\-\u{e9}\u{20ac}]{0,12}x") {
            let encoded: String =
                percent_encoding::utf8_percent_encode(&seg, percent_encoding::NON_ALPHANUMERIC)
                    .collect();
            let plain = norm(&format!("/cal/work/{seg}"));
            proptest::prop_assert_eq!(&plain, &norm(&format!("/cal/work/{encoded}")));
            proptest::prop_assert_eq!(&plain, &norm(&encoded));
            proptest::prop_assert_eq!(canonical_path(&plain), plain.clone());
            proptest::prop_assert_eq!(last_segment(&plain), seg);
        }
    }
}
