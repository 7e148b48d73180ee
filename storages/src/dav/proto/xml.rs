//! Internal XML helpers: a small element writer over quick-xml's `Writer`, and the
//! namespace-aware reader the parsers share.
//!
//! Reading resolves every element to (namespace URI, local name) with quick-xml's `NsReader`,
//! so prefixes, default namespaces and namespaces redeclared on inner elements all work.
//! Writing goes through quick-xml's writer, which escapes text and attribute values.
//!
//! Hostile bodies: only XML's five predefined entities and character references are decoded.
//! A DOCTYPE's entity declarations are never read, so a reference to a declared entity —
//! internal (the "billion laughs") or external (`SYSTEM "file:///..."`) — is an error, and
//! nothing is ever fetched. Nesting stops at [`MAX_DEPTH`].

use std::borrow::Cow;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::Writer;

use super::names::{self, Name};
use super::ProtoError;

// ---------------------------------------------------------------------------------------------
// Writing

/// Builds a request body. Every namespace the body uses is declared on the root element.
pub(crate) struct XmlOut {
    w: Writer<Vec<u8>>,
    open: Vec<String>,
}

impl XmlOut {
    /// Starts a document with `root`, declaring `namespaces` (with the prefixes of
    /// [`names::prefix`]).
    pub(crate) fn new(root: Name, namespaces: &[&'static str]) -> XmlOut {
        let mut out = XmlOut {
            w: Writer::new(Vec::new()),
            open: Vec::new(),
        };
        out.write(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
        let decls: Vec<(String, &str)> = namespaces
            .iter()
            .map(|ns| (format!("xmlns:{}", names::prefix(ns)), *ns))
            .collect();
        let qname = root.qualified();
        let start = BytesStart::new(qname.as_str())
            .with_attributes(decls.iter().map(|(k, v)| (k.as_str(), *v)));
        out.write(Event::Start(start));
        out.open.push(qname);
        out
    }

    fn write(&mut self, event: Event<'_>) {
        // Writing into a Vec cannot fail.
        self.w
            .write_event(event)
            .expect("writing XML into memory cannot fail");
    }

    /// Opens an element.
    pub(crate) fn start(&mut self, name: Name) -> &mut Self {
        self.start_with(name, &[])
    }

    /// Opens an element with attributes (values are escaped by quick-xml).
    pub(crate) fn start_with(&mut self, name: Name, attrs: &[(&str, &str)]) -> &mut Self {
        let qname = name.qualified();
        let start = BytesStart::new(qname.as_str()).with_attributes(attrs.iter().copied());
        self.write(Event::Start(start));
        self.open.push(qname);
        self
    }

    /// Closes the innermost open element.
    pub(crate) fn end(&mut self) -> &mut Self {
        let qname = self.open.pop().expect("end() without an open element");
        self.write(Event::End(BytesEnd::new(qname)));
        self
    }

    /// Writes `<name/>`.
    pub(crate) fn empty(&mut self, name: Name) -> &mut Self {
        self.empty_with(name, &[])
    }

    /// Writes `<name attr="..."/>`.
    pub(crate) fn empty_with(&mut self, name: Name, attrs: &[(&str, &str)]) -> &mut Self {
        let qname = name.qualified();
        let start = BytesStart::new(qname.as_str()).with_attributes(attrs.iter().copied());
        self.write(Event::Empty(start));
        self
    }

    /// Writes `<name>text</name>` with the text escaped.
    pub(crate) fn text_element(&mut self, name: Name, text: &str) -> &mut Self {
        self.start(name);
        self.write(Event::Text(BytesText::new(text)));
        self.end()
    }

    /// Writes `<prop>` with an empty element per name.
    pub(crate) fn prop_names(&mut self, props: &[Name]) -> &mut Self {
        self.start(names::PROP);
        for p in props {
            self.empty(*p);
        }
        self.end()
    }

    /// Closes every open element and returns the document.
    pub(crate) fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        String::from_utf8(self.w.into_inner()).expect("the writer only writes UTF-8")
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// One reading step, with names resolved and text decoded.
pub(crate) enum Ev<'a> {
    /// An element opened (empty elements are expanded into `Start` + `End`).
    Start {
        ns: String,
        local: String,
        start: BytesStart<'a>,
    },
    /// The innermost element closed.
    End,
    /// Text or CDATA content, entities decoded.
    Text(Cow<'a, str>),
    /// The document ended with every element closed.
    Eof,
}

/// Deepest element nesting accepted. WebDAV answers nest about ten deep; the limit keeps a
/// hostile body from growing the open-element stack with every byte.
pub(crate) const MAX_DEPTH: usize = 256;

/// A namespace-aware pull reader over a complete body that reports truncation and non-XML
/// bodies as [`ProtoError`]s.
pub(crate) struct XmlIn<'a> {
    reader: NsReader<&'a [u8]>,
    body: &'a [u8],
    /// Local names of the open elements, for the truncation message and for `skip`.
    open: Vec<String>,
}

impl<'a> XmlIn<'a> {
    pub(crate) fn new(body: &'a [u8]) -> XmlIn<'a> {
        // A UTF-8 byte order mark is not content.
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let mut reader = NsReader::from_reader(body);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        XmlIn {
            reader,
            body,
            open: Vec::new(),
        }
    }

    /// Offset in the body (after a byte order mark) just past the last event read.
    pub(crate) fn position(&self) -> usize {
        self.reader.buffer_position() as usize
    }

    /// Number of open elements.
    pub(crate) fn depth(&self) -> usize {
        self.open.len()
    }

    fn malformed(&self, message: impl std::fmt::Display) -> ProtoError {
        ProtoError::Malformed {
            position: self.reader.error_position(),
            message: message.to_string(),
        }
    }

    fn truncated(&self) -> ProtoError {
        ProtoError::Truncated {
            inside: self.open.last().cloned().unwrap_or_default(),
        }
    }

    /// True when the body ends, at the failed markup's position, in a beginning of `<!--`,
    /// `<![CDATA[` or `<!DOCTYPE` (a prefix of the body still arriving).
    fn ends_in_bang_prefix(&self) -> bool {
        let at = usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
        let Some(tail) = self.body.get(at..) else {
            return false;
        };
        [&b"<!--"[..], b"<![CDATA[", b"<!DOCTYPE"]
            .iter()
            .any(|marker| {
                tail.len() < marker.len() && marker[..tail.len()].eq_ignore_ascii_case(tail)
            })
    }

    /// The next event.
    pub(crate) fn next(&mut self) -> Result<Ev<'a>, ProtoError> {
        loop {
            let (resolved, event) = match self.reader.read_resolved_event() {
                Ok(x) => x,
                Err(quick_xml::Error::Syntax(e)) => {
                    use quick_xml::errors::SyntaxError as S;
                    return Err(match e {
                        S::UnclosedTag
                        | S::UnclosedCData
                        | S::UnclosedComment
                        | S::UnclosedPIOrXmlDecl
                        | S::UnclosedDoctype => self.truncated(),
                        // `<!` followed by too few bytes to say whether a comment, a
                        // CDATA section or a DOCTYPE begins: a body cut there, not bad markup.
                        S::InvalidBangMarkup if self.ends_in_bang_prefix() => self.truncated(),
                        S::InvalidBangMarkup => self.malformed(e),
                    });
                }
                Err(e) => return Err(self.malformed(e)),
            };
            match event {
                Event::Start(start) => {
                    let ns = match resolved {
                        ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into(),
                        ResolveResult::Unbound => String::new(),
                        ResolveResult::Unknown(prefix) => {
                            return Err(self.malformed(format_args!(
                                "undeclared namespace prefix {:?}",
                                String::from_utf8_lossy(&prefix)
                            )))
                        }
                    };
                    if self.open.len() >= MAX_DEPTH {
                        return Err(self.malformed(format_args!(
                            "elements nested deeper than {MAX_DEPTH} levels"
                        )));
                    }
                    let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                    self.open.push(local.clone());
                    return Ok(Ev::Start { ns, local, start });
                }
                Event::End(_) => {
                    self.open.pop();
                    return Ok(Ev::End);
                }
                Event::Empty(_) => unreachable!("empty elements are expanded"),
                Event::Text(text) => {
                    let text = text.unescape().map_err(|e| self.malformed(e))?;
                    return Ok(Ev::Text(text));
                }
                Event::CData(cdata) => {
                    let text = match cdata.into_inner() {
                        Cow::Borrowed(b) => {
                            Cow::Borrowed(std::str::from_utf8(b).map_err(|e| self.malformed(e))?)
                        }
                        Cow::Owned(b) => {
                            Cow::Owned(String::from_utf8(b).map_err(|e| self.malformed(e))?)
                        }
                    };
                    return Ok(Ev::Text(text));
                }
                Event::Eof => {
                    if self.open.is_empty() {
                        return Ok(Ev::Eof);
                    }
                    return Err(self.truncated());
                }
                Event::DocType(doctype) => {
                    if self.open.is_empty()
                        && String::from_utf8_lossy(&doctype)
                            .trim()
                            .to_ascii_lowercase()
                            .starts_with("html")
                    {
                        return Err(ProtoError::Html);
                    }
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            }
        }
    }

    /// Reads up to and including the root element's start, checking that it is `expected`.
    /// An HTML page, a body that is not XML and a different root fail with their own errors.
    pub(crate) fn expect_root(&mut self, expected: Name) -> Result<(), ProtoError> {
        let (ns, local) = self.root(false)?;
        Self::check_root(expected, ns, local)
    }

    /// [`expect_root`](Self::expect_root) on the beginning of a body still arriving. A
    /// beginning cut inside the prolog, or holding only whitespace so far, is `Truncated`: the
    /// rest may complete it into a multistatus, so it is never judged an HTML page or plain
    /// text from its first bytes alone (that judgement is the whole body's).
    pub(crate) fn expect_root_of_prefix(&mut self, expected: Name) -> Result<(), ProtoError> {
        let (ns, local) = self.root(true)?;
        Self::check_root(expected, ns, local)
    }

    fn check_root(expected: Name, ns: String, local: String) -> Result<(), ProtoError> {
        if expected.is(&ns, &local) {
            Ok(())
        } else {
            Err(ProtoError::WrongRoot {
                expected: expected.local,
                found: if ns.is_empty() {
                    local
                } else {
                    format!("{{{ns}}}{local}")
                },
            })
        }
    }

    /// Reads up to and including the root element's start and returns its name.
    /// `prefix`: the body may continue (see [`expect_root_of_prefix`](Self::expect_root_of_prefix)).
    fn root(&mut self, prefix: bool) -> Result<(String, String), ProtoError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            if prefix {
                return Err(self.truncated());
            }
            return Err(ProtoError::NotXml {
                start: String::new(),
            });
        }
        loop {
            let ev = match self.next() {
                Ok(ev) => ev,
                Err(e @ ProtoError::Truncated { .. }) if prefix => return Err(e),
                Err(e @ (ProtoError::Malformed { .. } | ProtoError::Truncated { .. })) => {
                    // `Internal Server Error <b>...`, a JSON error, an HTML page that is not
                    // well-formed: what matters is that it never was XML.
                    let starts_like_xml = String::from_utf8_lossy(self.body)
                        .trim_start_matches('\u{feff}')
                        .trim_start()
                        .starts_with('<');
                    return Err(match self.not_xml() {
                        ProtoError::NotXml { .. } if starts_like_xml => e,
                        other => other,
                    });
                }
                Err(e) => return Err(e),
            };
            match ev {
                Ev::Start { ns, local, .. } => {
                    if local.eq_ignore_ascii_case("html") {
                        return Err(ProtoError::Html);
                    }
                    return Ok((ns, local));
                }
                Ev::Text(t) if t.trim().is_empty() => {}
                // Only a prolog (declaration, DOCTYPE, comments) so far: the body was cut
                // before its root, which a streaming reader must wait for, not refuse.
                Ev::Eof => return Err(self.truncated()),
                Ev::Text(_) | Ev::End => return Err(self.not_xml()),
            }
        }
    }

    fn not_xml(&self) -> ProtoError {
        let text = String::from_utf8_lossy(self.body);
        let text = text.trim_start();
        let lower: String = text
            .chars()
            .take(512)
            .collect::<String>()
            .to_ascii_lowercase();
        if lower.starts_with("<!doctype html") || lower.contains("<html") {
            return ProtoError::Html;
        }
        ProtoError::NotXml {
            start: text.chars().take(60).collect(),
        }
    }

    /// Skips the rest of the element whose `Start` was just read.
    pub(crate) fn skip(&mut self) -> Result<(), ProtoError> {
        let depth = self.depth();
        while self.depth() >= depth {
            if let Ev::Eof = self.next()? {
                return Err(self.truncated());
            }
        }
        Ok(())
    }

    /// Reads the rest of the element whose `Start` was just read and returns all the text
    /// inside it (nested elements' text included).
    pub(crate) fn read_text(&mut self) -> Result<String, ProtoError> {
        let depth = self.depth();
        let mut out = String::new();
        while self.depth() >= depth {
            match self.next()? {
                Ev::Text(t) => out.push_str(&t),
                Ev::Eof => return Err(self.truncated()),
                Ev::Start { .. } | Ev::End => {}
            }
        }
        Ok(out)
    }
}

/// The `name` attribute (or any other unqualified attribute) of a start tag.
pub(crate) fn attribute(start: &BytesStart<'_>, key: &str) -> Option<String> {
    let attr = start.try_get_attribute(key).ok()??;
    attr.unescape_value().ok().map(Cow::into_owned)
}

/// Test helpers: read a request body back into a tree to check its structure.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// An element of a parsed document.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Node {
        pub ns: String,
        pub local: String,
        pub attrs: Vec<(String, String)>,
        pub text: String,
        pub children: Vec<Node>,
    }

    impl Node {
        pub(crate) fn is(&self, name: Name) -> bool {
            name.is(&self.ns, &self.local)
        }

        /// The only child of this name; panics otherwise.
        pub(crate) fn child(&self, name: Name) -> &Node {
            let found: Vec<&Node> = self.all(name);
            assert_eq!(found.len(), 1, "expected one <{}> in {self:#?}", name.local);
            found[0]
        }

        pub(crate) fn all(&self, name: Name) -> Vec<&Node> {
            self.children.iter().filter(|c| c.is(name)).collect()
        }

        /// The children's local names with namespaces, in order.
        pub(crate) fn child_names(&self) -> Vec<(String, String)> {
            self.children
                .iter()
                .map(|c| (c.ns.clone(), c.local.clone()))
                .collect()
        }

        pub(crate) fn attr(&self, key: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
    }

    /// Parses a whole document (namespace-aware) into a tree of its root element.
    pub(crate) fn parse_tree(body: &str) -> Node {
        let mut x = XmlIn::new(body.as_bytes());
        let mut stack: Vec<Node> = Vec::new();
        loop {
            match x.next().expect("well-formed XML") {
                Ev::Start { ns, local, start } => {
                    let attrs = start
                        .attributes()
                        .map(|a| a.expect("valid attribute"))
                        .filter(|a| {
                            let key = a.key.as_ref();
                            key != b"xmlns" && !key.starts_with(b"xmlns:")
                        })
                        .map(|a| {
                            (
                                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                a.unescape_value().unwrap().into_owned(),
                            )
                        })
                        .collect();
                    stack.push(Node {
                        ns,
                        local,
                        attrs,
                        ..Node::default()
                    });
                }
                Ev::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t);
                    }
                }
                Ev::End => {
                    let node = stack.pop().expect("balanced");
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return node,
                    }
                }
                Ev::Eof => panic!("document without root"),
            }
        }
    }

    pub(crate) fn url(s: &str) -> url::Url {
        url::Url::parse(s).expect("test URL")
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn written_text_and_attributes_are_escaped_and_read_back_intact() {
        let mut out = XmlOut::new(names::PROPFIND, &[names::NS_DAV, names::NS_CALDAV]);
        out.text_element(names::DISPLAYNAME, "Tom & Jerry <\"work\">")
            .empty_with(names::COMP, &[("name", "a\"b&c<d")]);
        let body = out.finish();
        assert!(body.contains("Tom &amp; Jerry &lt;"), "{body}");
        let tree = parse_tree(&body);
        assert!(tree.is(names::PROPFIND));
        assert_eq!(
            tree.child(names::DISPLAYNAME).text,
            "Tom & Jerry <\"work\">"
        );
        assert_eq!(tree.child(names::COMP).attr("name"), Some("a\"b&c<d"));
    }

    #[test]
    fn body_declares_every_namespace_on_the_root() {
        let body = XmlOut::new(names::PROPFIND, &[names::NS_DAV, names::NS_CALDAV]).finish();
        assert_eq!(
            body,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
             <d:propfind xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\"></d:propfind>"
        );
    }

    fn root_error(body: &str) -> ProtoError {
        XmlIn::new(body.as_bytes())
            .expect_root(names::MULTISTATUS)
            .unwrap_err()
    }

    #[test]
    fn html_pages_are_recognized_as_html() {
        assert_eq!(
            root_error("<!DOCTYPE html>\n<html><head><title>Login</title></head></html>"),
            ProtoError::Html
        );
        assert_eq!(
            root_error("<html><body><h1>502 Bad Gateway</h1></body></html>"),
            ProtoError::Html
        );
        // Not well-formed HTML (void elements) is still HTML.
        assert_eq!(
            root_error("\n<HTML><HEAD><META charset=utf-8><BR></HEAD>"),
            ProtoError::Html
        );
    }

    #[test]
    fn plain_text_and_empty_bodies_are_not_xml() {
        assert_eq!(
            root_error("Internal Server Error"),
            ProtoError::NotXml {
                start: "Internal Server Error".into()
            }
        );
        assert_eq!(
            root_error("  \r\n"),
            ProtoError::NotXml {
                start: String::new()
            }
        );
        assert!(matches!(
            root_error("{\"error\": \"unauthorized\"}"),
            ProtoError::NotXml { .. }
        ));
    }

    #[test]
    fn another_root_element_is_reported_with_its_namespace() {
        assert_eq!(
            root_error(
                "<?xml version=\"1.0\"?><d:error xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\">\
                 <s:message>No</s:message></d:error>"
            ),
            ProtoError::WrongRoot {
                expected: "multistatus",
                found: "{DAV:}error".into()
            }
        );
    }
}
