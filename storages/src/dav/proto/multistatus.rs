//! The `DAV:multistatus` parser (RFC 4918 §13) every request type builds on.
//!
//! Each `<response>` is handed to a callback as soon as it is complete. A whole body can be
//! parsed at once ([`parse_multistatus`]), or fed as it arrives ([`MultistatusStream`]), so
//! that a 5,000-item REPORT is never held whole in memory.

use url::Url;

use super::href::normalize_href;
use super::names::{self, Name};
use super::xml::{attribute, Ev, XmlIn};
use super::ProtoError;

/// One property inside a `<propstat>`, reduced to what davsync's properties need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prop {
    /// Namespace URI of the property element.
    pub ns: String,
    /// Local name of the property element.
    pub local: String,
    /// The property's own text content (text and CDATA directly inside it, entities
    /// decoded, not trimmed). For `calendar-data` this is the item.
    pub text: String,
    /// The `DAV:href` children, normalized (e.g. `current-user-principal`, home sets).
    pub hrefs: Vec<String>,
    /// The other child elements (e.g. `resourcetype`'s `collection`/`calendar`,
    /// `supported-calendar-component-set`'s `comp`).
    pub children: Vec<PropChild>,
}

/// A child element of a property value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropChild {
    pub ns: String,
    pub local: String,
    /// Its `name` attribute (`<C:comp name="VEVENT"/>`).
    pub name_attr: Option<String>,
}

/// A `<propstat>`: properties sharing one status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Propstat {
    /// The HTTP status code of the `<status>` line (e.g. 200, 404).
    pub status: u16,
    pub props: Vec<Prop>,
}

/// One `<response>` of a multistatus.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// Canonical absolute path (see [`super::href`]).
    pub href: String,
    /// The response-level `<status>` (hrefs reported without properties, e.g. a 404 in a
    /// multiget or a deletion in a sync-collection report).
    pub status: Option<u16>,
    pub propstats: Vec<Propstat>,
    /// Names of the `<error>` children (precondition names), as `(ns, local)`.
    pub errors: Vec<(String, String)>,
}

/// What the multistatus says besides its responses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultistatusInfo {
    /// The top-level `<sync-token>` (RFC 6578), trimmed.
    pub sync_token: Option<String>,
    /// True when the server reported the result as truncated: a `<response>` with status 507
    /// (RFC 6578 §3.6). That response is not passed to the callback.
    pub truncated: bool,
    /// Number of responses passed to the callback.
    pub responses: usize,
}

impl PropChild {
    pub fn is(&self, name: Name) -> bool {
        name.is(&self.ns, &self.local)
    }
}

impl Prop {
    pub fn is(&self, name: Name) -> bool {
        name.is(&self.ns, &self.local)
    }

    /// True when the property has a child element of this name.
    pub fn has_child(&self, name: Name) -> bool {
        self.children.iter().any(|c| c.is(name))
    }

    /// The text trimmed, `None` when empty.
    pub fn trimmed_text(&self) -> Option<&str> {
        let t = self.text.trim();
        (!t.is_empty()).then_some(t)
    }
}

impl Response {
    /// The property if the server returned it with a 2xx status.
    pub fn prop(&self, name: Name) -> Option<&Prop> {
        self.propstats
            .iter()
            .filter(|ps| is_success(ps.status))
            .flat_map(|ps| ps.props.iter())
            .find(|p| p.is(name))
    }

    /// Like [`prop`](Self::prop), but moves the property out (for large `calendar-data`).
    pub fn take_prop(&mut self, name: Name) -> Option<Prop> {
        for ps in self.propstats.iter_mut().filter(|ps| is_success(ps.status)) {
            if let Some(i) = ps.props.iter().position(|p| p.is(name)) {
                return Some(ps.props.swap_remove(i));
            }
        }
        None
    }

    /// The status the server gave this property, if it mentioned it at all.
    pub fn prop_status(&self, name: Name) -> Option<u16> {
        self.propstats
            .iter()
            .find(|ps| ps.props.iter().any(|p| p.is(name)))
            .map(|ps| ps.status)
    }

    /// The trimmed text of a 2xx property, `None` when absent or empty.
    pub fn prop_text(&self, name: Name) -> Option<&str> {
        self.prop(name).and_then(Prop::trimmed_text)
    }

    /// True when the response carries an `<error>` child of this name.
    pub fn has_error(&self, name: Name) -> bool {
        self.errors.iter().any(|(ns, local)| name.is(ns, local))
    }

    /// False when the response-level status says the resource itself failed (e.g. 404).
    /// Some servers (Xandikos) send a response-level `200 OK` next to propstats.
    pub fn resource_ok(&self) -> bool {
        self.status.map_or(true, is_success)
    }
}

/// True for 2xx.
pub fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Parses a `DAV:multistatus` body, calling `on_response` for every `<response>` in document
/// order. `base` is the request URL; hrefs are resolved against it.
///
/// A `<response>` with several hrefs and one status (RFC 4918 allows it) is reported once per
/// href. A 507 response (truncation, RFC 6578 §3.6) only sets
/// [`MultistatusInfo::truncated`].
pub fn parse_multistatus(
    body: &[u8],
    base: &Url,
    mut on_response: impl FnMut(Response),
) -> Result<MultistatusInfo, ProtoError> {
    let mut x = XmlIn::new(body);
    x.expect_root(names::MULTISTATUS)?;
    let mut info = MultistatusInfo::default();
    walk(&mut x, base, &mut info, &mut on_response, &mut 0)?;
    Ok(info)
}

/// Reads the root's children up to its end. `consumed` is set to the offset just past each
/// child fully handled, so a caller parsing a prefix of the body knows where to resume.
fn walk(
    x: &mut XmlIn<'_>,
    base: &Url,
    info: &mut MultistatusInfo,
    on_response: &mut impl FnMut(Response),
    consumed: &mut usize,
) -> Result<(), ProtoError> {
    loop {
        *consumed = x.position();
        match x.next()? {
            Ev::Start { ns, local, .. } => {
                if names::RESPONSE.is(&ns, &local) {
                    let (hrefs, response) = parse_response(x, base)?;
                    if response.status == Some(507) {
                        info.truncated = true;
                        continue;
                    }
                    if hrefs.is_empty() {
                        return Err(ProtoError::Missing {
                            element: "href",
                            parent: "response",
                        });
                    }
                    let last = hrefs.len() - 1;
                    let mut response = Some(response);
                    for (i, href) in hrefs.into_iter().enumerate() {
                        let r = if i == last {
                            response.take().expect("moved out only at the last href")
                        } else {
                            response.clone().expect("present until the last href")
                        };
                        info.responses += 1;
                        on_response(Response { href, ..r });
                    }
                } else if names::SYNC_TOKEN.is(&ns, &local) {
                    let token = x.read_text()?;
                    let token = token.trim();
                    info.sync_token = (!token.is_empty()).then(|| token.to_owned());
                } else {
                    x.skip()?;
                }
            }
            Ev::End => {
                *consumed = x.position();
                return Ok(());
            }
            Ev::Text(_) => {}
            Ev::Eof => unreachable!("the root element is still open"),
        }
    }
}

/// A multistatus parsed as its body arrives: [`feed`](Self::feed) each chunk, then
/// [`finish`](Self::finish). Every complete `<response>` goes to the callback during the
/// `feed` that completes it; only the unfinished tail (and the root's start tag, for its
/// namespace declarations) is kept. The result is the same as [`parse_multistatus`] on the
/// whole body, however the body is cut.
#[derive(Debug)]
pub struct MultistatusStream {
    base: Url,
    /// The body up to and including the root's start tag, once it has arrived.
    head: Option<Vec<u8>>,
    /// What arrived after `head` and was not handled yet.
    rest: Vec<u8>,
    info: MultistatusInfo,
    /// The root element has ended: what follows is ignored, as [`parse_multistatus`] does.
    closed: bool,
}

impl MultistatusStream {
    /// `base` is the request URL, as for [`parse_multistatus`].
    pub fn new(base: Url) -> MultistatusStream {
        MultistatusStream {
            base,
            head: None,
            rest: Vec::new(),
            info: MultistatusInfo::default(),
            closed: false,
        }
    }

    /// Takes the next piece of the body and hands out the responses it completes.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut on_response: impl FnMut(Response),
    ) -> Result<(), ProtoError> {
        if self.closed {
            return Ok(());
        }
        self.rest.extend_from_slice(chunk);
        if self.head.is_none() {
            let bom = if self.rest.starts_with(b"\xEF\xBB\xBF") {
                3
            } else {
                0
            };
            let mut x = XmlIn::new(&self.rest);
            match x.expect_root_of_prefix(names::MULTISTATUS) {
                Ok(()) => {}
                Err(ProtoError::Truncated { .. }) => return Ok(()),
                // A few bytes (half a byte order mark, an empty first chunk) cannot be judged
                // yet; `finish` reports them if nothing follows.
                Err(_) if self.rest.len() < HEAD_PATIENCE => return Ok(()),
                Err(e) => return Err(e),
            }
            let end = bom + x.position();
            self.head = Some(self.rest.drain(..end).collect());
        }
        // Parse only up to the end of the last complete `</response>`: whatever is cut
        // mid-element (an entity, a CDATA section) waits for the next chunk.
        let Some(cut) = last_response_end(&self.rest) else {
            return Ok(());
        };
        let head = self.head.as_deref().unwrap_or_default();
        let mut doc = Vec::with_capacity(head.len() + cut);
        doc.extend_from_slice(head);
        doc.extend_from_slice(&self.rest[..cut]);
        let mut x = XmlIn::new(&doc);
        x.expect_root(names::MULTISTATUS)?;
        let mut consumed = x.position();
        match walk(
            &mut x,
            &self.base,
            &mut self.info,
            &mut on_response,
            &mut consumed,
        ) {
            // The prefix ends inside the root: the expected way for it to end.
            Err(ProtoError::Truncated { .. }) => {}
            Ok(()) => self.closed = true,
            Err(e) => return Err(e),
        }
        // The document is `head` + `rest[..cut]` minus a byte order mark `XmlIn` skipped.
        let bom = if doc.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let done = (bom + consumed).saturating_sub(head.len()).min(cut);
        self.rest.drain(..done);
        Ok(())
    }

    /// Parses what is left once the body is complete.
    pub fn finish(
        self,
        mut on_response: impl FnMut(Response),
    ) -> Result<MultistatusInfo, ProtoError> {
        let mut info = self.info;
        if self.closed {
            return Ok(info);
        }
        let mut doc = self.head.unwrap_or_default();
        doc.extend_from_slice(&self.rest);
        let mut x = XmlIn::new(&doc);
        x.expect_root(names::MULTISTATUS)?;
        walk(&mut x, &self.base, &mut info, &mut on_response, &mut 0)?;
        Ok(info)
    }
}

/// How many bytes a stream waits for before a beginning that is not a multistatus start
/// tag is an error.
const HEAD_PATIENCE: usize = 512;

/// The offset just past the last `</response>` end tag (any prefix) in `bytes`.
fn last_response_end(bytes: &[u8]) -> Option<usize> {
    const TAIL: &[u8] = b"response>";
    let mut end = bytes.len();
    while end >= TAIL.len() {
        let i = bytes[..end].windows(TAIL.len()).rposition(|w| w == TAIL)?;
        // Walk back over an optional `prefix:` to the `</`.
        let mut j = i;
        if j > 0 && bytes[j - 1] == b':' {
            j -= 1;
            while j > 0 && !matches!(bytes[j - 1], b'/' | b'<' | b'>' | b' ' | b'\n') {
                j -= 1;
            }
        }
        if j >= 2 && &bytes[j - 2..j] == b"</" {
            return Some(i + TAIL.len());
        }
        end = i + TAIL.len() - 1;
    }
    None
}

/// Parses one `<response>` (its start already read): its hrefs and the rest.
fn parse_response(x: &mut XmlIn<'_>, base: &Url) -> Result<(Vec<String>, Response), ProtoError> {
    let mut hrefs = Vec::new();
    let mut response = Response::default();
    loop {
        match x.next()? {
            Ev::Start { ns, local, .. } => {
                if names::HREF.is(&ns, &local) {
                    hrefs.push(normalize_href(base, x.read_text()?.trim())?);
                } else if names::STATUS.is(&ns, &local) {
                    response.status = Some(parse_status(&x.read_text()?)?);
                } else if names::PROPSTAT.is(&ns, &local) {
                    response.propstats.push(parse_propstat(x, base)?);
                } else if names::ERROR.is(&ns, &local) {
                    response.errors.extend(child_names(x)?);
                } else {
                    x.skip()?;
                }
            }
            Ev::End => return Ok((hrefs, response)),
            Ev::Text(_) => {}
            Ev::Eof => unreachable!("the response element is still open"),
        }
    }
}

fn parse_propstat(x: &mut XmlIn<'_>, base: &Url) -> Result<Propstat, ProtoError> {
    let mut status = None;
    let mut props = Vec::new();
    loop {
        match x.next()? {
            Ev::Start { ns, local, .. } => {
                if names::PROP.is(&ns, &local) {
                    parse_props(x, base, &mut props)?;
                } else if names::STATUS.is(&ns, &local) {
                    status = Some(parse_status(&x.read_text()?)?);
                } else {
                    x.skip()?;
                }
            }
            Ev::End => break,
            Ev::Text(_) => {}
            Ev::Eof => unreachable!("the propstat element is still open"),
        }
    }
    let status = status.ok_or(ProtoError::Missing {
        element: "status",
        parent: "propstat",
    })?;
    Ok(Propstat { status, props })
}

/// Reads the children of `<prop>` (its start already read).
fn parse_props(x: &mut XmlIn<'_>, base: &Url, props: &mut Vec<Prop>) -> Result<(), ProtoError> {
    loop {
        match x.next()? {
            Ev::Start { ns, local, .. } => props.push(parse_prop(x, base, ns, local)?),
            Ev::End => return Ok(()),
            Ev::Text(_) => {}
            Ev::Eof => unreachable!("the prop element is still open"),
        }
    }
}

/// Reads one property element (its start already read).
fn parse_prop(
    x: &mut XmlIn<'_>,
    base: &Url,
    ns: String,
    local: String,
) -> Result<Prop, ProtoError> {
    let mut prop = Prop {
        ns,
        local,
        ..Prop::default()
    };
    loop {
        match x.next()? {
            Ev::Text(t) => prop.text.push_str(&t),
            Ev::Start { ns, local, start } => {
                if names::HREF.is(&ns, &local) {
                    prop.hrefs
                        .push(normalize_href(base, x.read_text()?.trim())?);
                } else {
                    let name_attr = attribute(&start, names::ATTR_NAME);
                    x.skip()?;
                    prop.children.push(PropChild {
                        ns,
                        local,
                        name_attr,
                    });
                }
            }
            Ev::End => return Ok(prop),
            Ev::Eof => unreachable!("the property element is still open"),
        }
    }
}

/// The names of the child elements of the element just started (e.g. `<error>`), skipping
/// their content.
pub(crate) fn child_names(x: &mut XmlIn<'_>) -> Result<Vec<(String, String)>, ProtoError> {
    let mut out = Vec::new();
    loop {
        match x.next()? {
            Ev::Start { ns, local, .. } => {
                x.skip()?;
                out.push((ns, local));
            }
            Ev::End => return Ok(out),
            Ev::Text(_) => {}
            Ev::Eof => unreachable!("the element is still open"),
        }
    }
}

/// The code of an HTTP status line (`HTTP/1.1 404 Not Found`).
pub(crate) fn parse_status(line: &str) -> Result<u16, ProtoError> {
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..600).contains(code))
        .ok_or_else(|| ProtoError::InvalidStatus {
            line: line.trim().to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::proto::xml::testutil::url;

    /// Bodies with what a cut can fall into: entities, CDATA, a BOM, prefixes, a default
    /// namespace, a 507, the sync-token at the end.
    const STREAM_BODIES: &[&str] = &[
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\
         <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>\"1\"</d:getetag>\
         <c:calendar-data>BEGIN:VCALENDAR\r\nSUMMARY:Tom &amp; Jerry &lt;3\r\nEND:VCALENDAR\r\n</c:calendar-data>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n\
         <d:response><d:href>/cal/b%20c.ics</d:href><d:propstat><d:prop><d:getetag>\"2\"</d:getetag>\
         <c:calendar-data><![CDATA[BEGIN:VCALENDAR\r\nDESCRIPTION:not an end tag: </d:response>\r\nEND:VCALENDAR\r\n]]></c:calendar-data>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\
         <d:response><d:href>/cal/gone.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>\
         <d:response><d:href>/cal/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>\
         <d:sync-token>http://example.com/sync/9</d:sync-token></d:multistatus>",
        "<multistatus xmlns=\"DAV:\"><response><href>/ab/x.vcf</href><propstat><prop>\
         <getetag>\"x\"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>\
         <response><href>/ab/y.vcf</href><propstat><prop><getetag>\"y\"</getetag></prop>\
         <status>HTTP/1.1 200 OK</status></propstat></response></multistatus>",
        "<D:multistatus xmlns:D=\"DAV:\"/>",
    ];

    fn streamed(
        body: &[u8],
        cuts: &[usize],
    ) -> Result<(Vec<Response>, MultistatusInfo), ProtoError> {
        let mut out = Vec::new();
        let mut stream = MultistatusStream::new(url("http://h/cal/"));
        let mut at = 0;
        for &cut in cuts {
            let cut = cut.clamp(at, body.len());
            stream.feed(&body[at..cut], |r| out.push(r))?;
            at = cut;
        }
        stream.feed(&body[at..], |r| out.push(r))?;
        let info = stream.finish(|r| out.push(r))?;
        Ok((out, info))
    }

    #[test]
    fn a_streamed_body_gives_what_the_whole_body_gives_at_every_single_cut() {
        for body in STREAM_BODIES {
            let whole = parse_multistatus(body.as_bytes(), &url("http://h/cal/"), |_| {});
            let mut expected = Vec::new();
            let info =
                parse_multistatus(body.as_bytes(), &url("http://h/cal/"), |r| expected.push(r))
                    .unwrap();
            assert!(whole.is_ok());
            for cut in 0..=body.len() {
                let (got, got_info) = streamed(body.as_bytes(), &[cut]).unwrap();
                assert_eq!(got, expected, "cut at {cut}");
                assert_eq!(got_info, info, "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_stream_hands_out_responses_before_the_body_ends() {
        let body = STREAM_BODIES[1].as_bytes();
        let second = body.windows(10).position(|w| w == b"<response>").unwrap() + 1;
        let second = second
            + body[second..]
                .windows(10)
                .position(|w| w == b"<response>")
                .unwrap();
        let mut stream = MultistatusStream::new(url("http://h/ab/"));
        let mut seen = Vec::new();
        stream
            .feed(&body[..second + 5], |r| seen.push(r.href))
            .unwrap();
        assert_eq!(seen, ["/ab/x.vcf"]);
        assert!(
            stream.rest.len() < 20,
            "handled bytes are dropped: {}",
            stream.rest.len()
        );
    }

    #[test]
    fn a_streamed_body_cut_short_or_broken_fails_like_the_whole_one() {
        let body = STREAM_BODIES[0].as_bytes();
        let short = &body[..body.len() - 30];
        let whole = parse_multistatus(short, &url("http://h/cal/"), |_| {}).unwrap_err();
        let got = streamed(short, &[100, 400]).unwrap_err();
        assert_eq!(got, whole);
        let html = b"<!DOCTYPE html><html><body>Login</body></html>";
        assert_eq!(streamed(html, &[5]).unwrap_err(), ProtoError::Html);
    }

    /// Found by fuzzing (tests/fuzz/regressions/multistatus/stream-says-html): a beginning of
    /// more than 512 bytes cut inside the prolog was judged on its own, as an HTML page
    /// (`<html` inside an unfinished processing instruction) or as an empty body (only
    /// whitespace so far), while the whole body is a multistatus.
    #[test]
    fn a_long_prolog_cut_short_waits_for_the_rest_of_the_body() {
        let root = "<d:multistatus xmlns:d=\"DAV:\"><d:sync-token>t</d:sync-token></d:multistatus>";
        let pi = format!(
            "<?note <html><body>{}</body></html> ?>{root}",
            "x".repeat(600)
        );
        let spaces = format!("{}{root}", " ".repeat(600));
        for body in [pi, spaces] {
            let whole = parse_multistatus(body.as_bytes(), &url("http://h/cal/"), |_| {}).unwrap();
            assert_eq!(whole.sync_token.as_deref(), Some("t"));
            for cut in [520, 560, 600] {
                let (_, info) = streamed(body.as_bytes(), &[cut]).unwrap();
                assert_eq!(info, whole, "cut at {cut}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn a_streamed_body_gives_what_the_whole_body_gives_at_any_cuts(
            which in 0..STREAM_BODIES.len(),
            mut cuts in proptest::collection::vec(0usize..1200, 0..12),
        ) {
            let body = STREAM_BODIES[which].as_bytes();
            cuts.sort_unstable();
            let mut expected = Vec::new();
            let info = parse_multistatus(body, &url("http://h/cal/"), |r| expected.push(r)).unwrap();
            let (got, got_info) = streamed(body, &cuts).unwrap();
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(got_info, info);
        }
    }

    fn parse(body: &str) -> Result<(Vec<Response>, MultistatusInfo), ProtoError> {
        let mut out = Vec::new();
        let info = parse_multistatus(
            body.as_bytes(),
            &url("https://dav.example.com/cal/work/"),
            |r| out.push(r),
        )?;
        Ok((out, info))
    }

    fn etag_of(r: &Response) -> Option<&str> {
        r.prop_text(names::GETETAG)
    }

    #[test]
    fn prefixed_default_and_odd_prefixes_read_the_same() {
        let bodies = [
            r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/work/a.ics</d:href>
               <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>
               <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#,
            r#"<?xml version="1.0" encoding="utf-8"?>
               <multistatus xmlns="DAV:"><response><href>/cal/work/a.ics</href>
               <propstat><prop><getetag>"1"</getetag></prop>
               <status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#,
            r#"<x0:multistatus xmlns:x0="DAV:"><x0:response><x0:href>/cal/work/a.ics</x0:href>
               <x0:propstat><x0:prop><x0:getetag>"1"</x0:getetag></x0:prop>
               <x0:status>HTTP/1.1 200 OK</x0:status></x0:propstat></x0:response></x0:multistatus>"#,
            // Namespace redeclared on inner elements, with another prefix bound to DAV:.
            r#"<a:multistatus xmlns:a="DAV:"><response xmlns="DAV:"><href>/cal/work/a.ics</href>
               <b:propstat xmlns:b="DAV:"><b:prop><getetag>"1"</getetag></b:prop>
               <a:status>HTTP/1.1 200 OK</a:status></b:propstat></response></a:multistatus>"#,
        ];
        for body in bodies {
            let (responses, info) = parse(body).unwrap();
            assert_eq!(responses.len(), 1, "{body}");
            assert_eq!(responses[0].href, "/cal/work/a.ics");
            assert_eq!(etag_of(&responses[0]), Some("\"1\""), "{body}");
            assert_eq!(info.responses, 1);
            assert!(!info.truncated);
        }
    }

    #[test]
    fn elements_of_other_namespaces_are_not_mistaken_for_dav_ones() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:x="http://example.com/ns">
            <d:response><d:href>/cal/work/a.ics</d:href>
            <d:propstat><d:prop><x:getetag>"fake"</x:getetag></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
            <x:response><d:href>/cal/work/b.ics</d:href></x:response>
            </d:multistatus>"#;
        let (responses, _) = parse(body).unwrap();
        assert_eq!(responses.len(), 1);
        assert_eq!(etag_of(&responses[0]), None);
        assert_eq!(
            responses[0].propstats[0].props[0].ns,
            "http://example.com/ns"
        );
    }

    #[test]
    fn mixed_200_and_404_propstats_are_kept_apart() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
            <d:response><d:href>/cal/work/a.ics</d:href>
            <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>
              <d:status>HTTP/1.1 200 OK</d:status></d:propstat>
            <d:propstat><d:prop><d:getcontenttype/><cal:calendar-data/></d:prop>
              <d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
            </d:response></d:multistatus>"#;
        let (mut responses, _) = parse(body).unwrap();
        let r = &mut responses[0];
        assert_eq!(etag_of(r), Some("\"1\""));
        assert!(r.prop(names::GETCONTENTTYPE).is_none());
        assert_eq!(r.prop_status(names::GETCONTENTTYPE), Some(404));
        assert_eq!(r.prop_status(names::CALENDAR_DATA), Some(404));
        assert_eq!(r.prop_status(names::DISPLAYNAME), None);
        assert!(r.take_prop(names::CALENDAR_DATA).is_none());
        assert!(r.take_prop(names::GETETAG).is_some());
        assert!(r.prop(names::GETETAG).is_none());
    }

    #[test]
    fn response_level_status_and_several_hrefs() {
        let body = r#"<D:multistatus xmlns:D="DAV:">
            <D:response><D:href>/cal/work/gone.ics</D:href>
              <D:href>https://dav.example.com/cal/work/also%20gone.ics</D:href>
              <D:status>HTTP/1.1 404 Not Found</D:status></D:response>
            </D:multistatus>"#;
        let (responses, info) = parse(body).unwrap();
        let hrefs: Vec<&str> = responses.iter().map(|r| r.href.as_str()).collect();
        assert_eq!(hrefs, ["/cal/work/gone.ics", "/cal/work/also%20gone.ics"]);
        assert!(responses.iter().all(|r| r.status == Some(404)));
        assert!(responses.iter().all(|r| !r.resource_ok()));
        assert_eq!(info.responses, 2);
    }

    #[test]
    fn relative_and_absolute_hrefs_are_normalized() {
        let body = r#"<d:multistatus xmlns:d="DAV:">
            <d:response><d:href>a%20b.ics</d:href><d:status>HTTP/1.1 200 OK</d:status></d:response>
            <d:response><d:href>https://dav.example.com/cal/work/a b.ics</d:href>
              <d:status>HTTP/1.1 200 OK</d:status></d:response>
            <d:response><d:href> /cal/work/x@y.ics </d:href><d:status>HTTP/1.1 200 OK</d:status></d:response>
            </d:multistatus>"#;
        let (responses, _) = parse(body).unwrap();
        assert_eq!(responses[0].href, "/cal/work/a%20b.ics");
        assert_eq!(responses[0].href, responses[1].href);
        assert_eq!(responses[2].href, "/cal/work/x@y.ics");
    }

    #[test]
    fn status_507_marks_truncation_and_sync_token_is_read() {
        let body = r#"<multistatus xmlns="DAV:">
            <response><href>/cal/work/a.ics</href><propstat><prop><getetag>"1"</getetag></prop>
              <status>HTTP/1.1 200 OK</status></propstat></response>
            <response><href>/cal/work/</href>
              <status>HTTP/1.1 507 Insufficient Storage</status>
              <error><number-of-matches-within-limits/></error></response>
            <sync-token> http://example.com/sync/12 </sync-token>
            </multistatus>"#;
        let (responses, info) = parse(body).unwrap();
        assert_eq!(responses.len(), 1);
        assert!(info.truncated);
        assert_eq!(
            info.sync_token.as_deref(),
            Some("http://example.com/sync/12")
        );
    }

    #[test]
    fn error_children_are_reported() {
        let body = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/work/a.ics</d:href>
            <d:status>HTTP/1.1 403 Forbidden</d:status>
            <d:error><d:need-privileges><d:resource/></d:need-privileges></d:error>
            </d:response></d:multistatus>"#;
        let (responses, _) = parse(body).unwrap();
        assert!(responses[0].has_error(names::Name {
            ns: names::NS_DAV,
            local: "need-privileges"
        }));
        assert_eq!(responses[0].errors.len(), 1);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let body = "\u{feff}<?xml version=\"1.0\"?><d:multistatus xmlns:d=\"DAV:\">\
            <d:response><d:href>/a</d:href><d:status>HTTP/1.1 200 OK</d:status></d:response>\
            </d:multistatus>";
        assert_eq!(parse(body).unwrap().0.len(), 1);
    }

    #[test]
    fn five_thousand_responses_stream_one_by_one() {
        let mut body = String::from(
            r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">"#,
        );
        for i in 0..5000 {
            body.push_str(&format!(
                "<d:response><d:href>/cal/work/{i}.ics</d:href><d:propstat><d:prop>\
                 <d:getetag>\"{i}\"</d:getetag><c:calendar-data>BEGIN:VCALENDAR&#13;\nUID:{i}&#13;\n\
                 END:VCALENDAR&#13;\n</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status>\
                 </d:propstat></d:response>"
            ));
        }
        body.push_str("</d:multistatus>");
        let mut seen = 0usize;
        let info = parse_multistatus(
            body.as_bytes(),
            &url("https://dav.example.com/cal/work/"),
            |mut r| {
                let data = r.take_prop(names::CALENDAR_DATA).unwrap().text;
                assert_eq!(r.href, format!("/cal/work/{seen}.ics"));
                assert!(data.contains(&format!("UID:{seen}\r\n")));
                seen += 1;
            },
        )
        .unwrap();
        assert_eq!((seen, info.responses), (5000, 5000));
    }

    #[test]
    fn an_empty_multistatus_has_no_responses() {
        let (responses, info) = parse(r#"<d:multistatus xmlns:d="DAV:"/>"#).unwrap();
        assert!(responses.is_empty());
        assert_eq!(info, MultistatusInfo::default());
    }

    #[test]
    fn a_truncated_body_fails_without_partial_success() {
        let full = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/work/a.ics</d:href>
            <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>
            <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        // Every proper prefix that starts the root is truncated (or, cut inside the root's own
        // start tag, not XML at all); none parses as success.
        for cut in 1..full.len() {
            let Some(prefix) = full.get(..cut) else {
                continue;
            };
            match parse(prefix) {
                Err(ProtoError::Truncated { .. }) | Err(ProtoError::NotXml { .. }) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let err = parse(&full[..full.len() - 30]).unwrap_err();
        assert_eq!(
            err,
            ProtoError::Truncated {
                inside: "propstat".into()
            }
        );
    }

    #[test]
    fn missing_href_or_propstat_status_is_an_error() {
        let no_href = r#"<d:multistatus xmlns:d="DAV:"><d:response>
            <d:status>HTTP/1.1 200 OK</d:status></d:response></d:multistatus>"#;
        assert_eq!(
            parse(no_href).unwrap_err(),
            ProtoError::Missing {
                element: "href",
                parent: "response"
            }
        );
        let no_status = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/a</d:href>
            <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop></d:propstat>
            </d:response></d:multistatus>"#;
        assert_eq!(
            parse(no_status).unwrap_err(),
            ProtoError::Missing {
                element: "status",
                parent: "propstat"
            }
        );
    }

    #[test]
    fn malformed_xml_and_bad_status_lines_are_errors() {
        let mismatched = r#"<d:multistatus xmlns:d="DAV:"><d:response></d:href></d:multistatus>"#;
        assert!(matches!(
            parse(mismatched).unwrap_err(),
            ProtoError::Malformed { .. }
        ));
        let unknown_prefix = r#"<d:multistatus xmlns:d="DAV:"><q:response/></d:multistatus>"#;
        assert!(matches!(
            parse(unknown_prefix).unwrap_err(),
            ProtoError::Malformed { .. }
        ));
        let bad_status = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/a</d:href>
            <d:status>OK</d:status></d:response></d:multistatus>"#;
        assert_eq!(
            parse(bad_status).unwrap_err(),
            ProtoError::InvalidStatus { line: "OK".into() }
        );
    }

    #[test]
    fn an_html_page_is_not_a_multistatus() {
        let body = "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Sign in</title></head>\
                    <body><form></form></body></html>";
        assert_eq!(parse(body).unwrap_err(), ProtoError::Html);
    }

    #[test]
    fn property_values_keep_hrefs_children_and_attributes() {
        let body = r#"<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
            <d:response><d:href>/cal/work/</d:href><d:propstat><d:prop>
            <d:resourcetype><d:collection/><c:calendar/></d:resourcetype>
            <c:supported-calendar-component-set><c:comp name="VEVENT"/><c:comp name="VTODO"/>
            </c:supported-calendar-component-set>
            <d:current-user-principal><d:href>../../principals/alice/</d:href></d:current-user-principal>
            </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
            </d:multistatus>"#;
        let (responses, _) = parse(body).unwrap();
        let r = &responses[0];
        let rt = r.prop(names::RESOURCETYPE).unwrap();
        assert!(rt.has_child(names::COLLECTION) && rt.has_child(names::CALENDAR));
        assert!(!rt.has_child(names::ADDRESSBOOK));
        let comps: Vec<_> = r
            .prop(names::SUPPORTED_CALENDAR_COMPONENT_SET)
            .unwrap()
            .children
            .iter()
            .map(|c| c.name_attr.clone().unwrap())
            .collect();
        assert_eq!(comps, ["VEVENT", "VTODO"]);
        assert_eq!(
            r.prop(names::CURRENT_USER_PRINCIPAL).unwrap().hrefs,
            ["/principals/alice/"]
        );
    }

    #[test]
    fn xandikos_shape_with_response_status_next_to_propstats() {
        // Xandikos answers with ElementTree's generated prefixes and a response-level status
        // beside the propstats.
        let body = "<ns0:multistatus xmlns:ns0=\"DAV:\"><ns0:response>\
            <ns0:href>/cal/work/a.ics</ns0:href><ns0:status>HTTP/1.1 200 OK</ns0:status>\
            <ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status>\
            <ns0:prop><ns0:getetag>\"x1\"</ns0:getetag></ns0:prop></ns0:propstat>\
            <ns0:propstat><ns0:status>HTTP/1.1 404 Not Found</ns0:status>\
            <ns0:prop><ns0:getcontenttype /></ns0:prop></ns0:propstat>\
            </ns0:response></ns0:multistatus>";
        let (responses, _) = parse(body).unwrap();
        assert!(responses[0].resource_ok());
        assert_eq!(etag_of(&responses[0]), Some("\"x1\""));
    }

    const SAMPLE: &str = r#"<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:href>/cal/work/a.ics</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag><c:calendar-data><![CDATA[BEGIN:VCALENDAR]]>&#13;
</c:calendar-data><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response><d:response><d:href>b.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response><d:sync-token>t</d:sync-token></d:multistatus>"#;

    proptest::proptest! {
        /// Whatever a server or a broken connection delivers, the parser answers with a
        /// result or an error, never a panic.
        #[test]
        fn damaged_bodies_never_panic(
            cut in 0..SAMPLE.len(),
            pos in 0..SAMPLE.len(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let mut body = SAMPLE.as_bytes().to_vec();
            body[pos] = byte;
            let _ = parse(&String::from_utf8_lossy(&body));
            let _ = parse(&String::from_utf8_lossy(&body[..cut]));
            let _ = parse_multistatus(&body, &url("https://x.example/cal/work/"), |_| {});
        }
    }
}
