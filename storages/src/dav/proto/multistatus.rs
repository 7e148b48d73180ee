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
mod tests;
