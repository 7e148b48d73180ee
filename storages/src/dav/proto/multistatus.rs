//! The `DAV:multistatus` parser (RFC 4918 §13) every request type builds on.
//!
//! The body is read incrementally from a byte slice and each `<response>` is handed to a
//! callback as soon as it is complete, so a 5,000-item REPORT is never held twice in memory.

use url::Url;

use super::names::Name;
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
        todo!()
    }

    /// Like [`prop`](Self::prop), but moves the property out (for large `calendar-data`).
    pub fn take_prop(&mut self, name: Name) -> Option<Prop> {
        todo!()
    }

    /// The status the server gave this property, if it mentioned it at all.
    pub fn prop_status(&self, name: Name) -> Option<u16> {
        todo!()
    }

    /// The trimmed text of a 2xx property, `None` when absent or empty.
    pub fn prop_text(&self, name: Name) -> Option<&str> {
        self.prop(name).and_then(Prop::trimmed_text)
    }

    /// True when the response carries an `<error>` child of this name.
    pub fn has_error(&self, name: Name) -> bool {
        self.errors.iter().any(|(ns, local)| name.is(ns, local))
    }
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
    todo!()
}
