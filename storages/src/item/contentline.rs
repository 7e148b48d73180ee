//! Content lines: cutting raw bytes into logical (unfolded) lines without losing a byte.
//!
//! Every logical line remembers the byte span it came from, so the callers can cut items out
//! of a stream verbatim; the unfolded text is only used to read names, parameters and values.
//! Unfolded text is borrowed from the input unless the line really was folded.

use std::borrow::Cow;

use super::{ItemKind, ParseError};

/// One logical line.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    /// Byte offset of the line's first byte in the input.
    pub start: usize,
    /// Byte offset where the next logical line begins (or the end of the input): the span
    /// `start..end` holds the line with its folds, its line ending and any blank lines after it.
    pub end: usize,
    /// End of the last content byte (before the line ending).
    pub content_end: usize,
    /// 1-based physical line number of the line's first byte.
    pub lineno: usize,
    /// The unfolded content, without line ending.
    pub content: Cow<'a, [u8]>,
    /// Length of the name (with group), i.e. the offset of the first `;` or `:`.
    pub name_len: usize,
    /// Offset in `content` of the `:` that starts the value.
    pub colon: usize,
}

impl<'a> Line<'a> {
    /// The property (or BEGIN/END) name, with a vCard group prefix if any.
    pub fn name(&self) -> &[u8] {
        &self.content[..self.name_len]
    }

    /// The name without a vCard group prefix (`item1.EMAIL` -> `EMAIL`).
    pub fn bare_name(&self) -> &[u8] {
        let n = self.name();
        match n.iter().rposition(|&b| b == b'.') {
            Some(i) => &n[i + 1..],
            None => n,
        }
    }

    pub fn is(&self, name: &str) -> bool {
        self.bare_name().eq_ignore_ascii_case(name.as_bytes())
    }

    /// The raw parameter text after the name, starting with `;` (empty if none).
    pub fn params_raw(&self) -> &[u8] {
        &self.content[self.name_len..self.colon]
    }

    pub fn value(&self) -> &[u8] {
        &self.content[self.colon + 1..]
    }

    /// The parameters as (name, raw value) pairs in order: a multi-valued parameter gives its
    /// whole value text (commas and quotes included); a bare vCard 2.1 parameter (`TEL;WORK:`)
    /// gives (name, "").
    pub fn params(&self) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::new();
        for_each_param(self.params_raw(), |n, v| out.push((n, v)));
        out
    }

    /// The values of the named parameter (case-insensitive), each without surrounding quotes.
    pub fn param(&self, name: &str) -> Vec<&[u8]> {
        let mut out = Vec::new();
        for_each_param(self.params_raw(), |n, v| {
            if n.eq_ignore_ascii_case(name.as_bytes()) {
                out.push(unquote(v))
            }
        });
        out
    }
}

/// A parameter value without its surrounding double quotes, if it is one quoted string.
pub(crate) fn unquote(v: &[u8]) -> &[u8] {
    if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' && !v[1..v.len() - 1].contains(&b'"')
    {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Splits a multi-valued parameter value at the commas outside quotes, unquoting each value.
pub(crate) fn split_values<'v>(v: &'v [u8], mut f: impl FnMut(&'v [u8])) {
    let mut start = 0;
    let mut in_quote = false;
    for (i, &b) in v.iter().enumerate() {
        match b {
            b'"' => in_quote = !in_quote,
            b',' if !in_quote => {
                f(unquote(&v[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    f(unquote(&v[start..]));
}

/// Calls `f(name, raw value)` for every parameter in `raw` (which starts with `;`).
fn for_each_param<'b>(raw: &'b [u8], mut f: impl FnMut(&'b [u8], &'b [u8])) {
    let mut i = 0;
    while i < raw.len() {
        // raw[i] == b';'
        i += 1;
        let name_start = i;
        while i < raw.len() && raw[i] != b'=' && raw[i] != b';' {
            i += 1;
        }
        let name = &raw[name_start..i];
        if i >= raw.len() || raw[i] == b';' {
            f(name, b"");
            continue;
        }
        i += 1; // '='
        let v_start = i;
        let mut in_quote = false;
        while i < raw.len() && (in_quote || raw[i] != b';') {
            if raw[i] == b'"' {
                in_quote = !in_quote;
            }
            i += 1;
        }
        f(name, &raw[v_start..i]);
    }
}

/// A physical line: `start..content_end` is the content, without its line ending.
struct Physical {
    start: usize,
    content_end: usize,
}

fn physical_lines(input: &[u8]) -> impl Iterator<Item = Physical> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= input.len() {
            return None;
        }
        let start = pos;
        let mut i = pos;
        while i < input.len() && input[i] != b'\n' && input[i] != b'\r' {
            i += 1;
        }
        let content_end = i;
        if i < input.len() {
            if input[i] == b'\r' && input.get(i + 1) == Some(&b'\n') {
                i += 2;
            } else {
                i += 1;
            }
        }
        pos = i;
        Some(Physical { start, content_end })
    })
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether a vCard line's value goes on over unindented lines (2.1 quoted-printable soft
/// breaks are handled separately).
fn is_base64(prefix: &[u8]) -> bool {
    contains_ci(prefix, b"BASE64") || contains_ci(prefix, b"ENCODING=B")
}

/// Whether a vCard line is quoted-printable and ends in a soft line break (`=`).
fn is_soft_break(content: &[u8]) -> bool {
    content.last() == Some(&b'=')
        && content
            .iter()
            .position(|&b| b == b':')
            .is_some_and(|c| contains_ci(&content[..c], b"QUOTED-PRINTABLE"))
}

/// Locates the name end and the value colon of an unfolded line, or says what is wrong.
fn locate(content: &[u8]) -> Result<(usize, usize), &'static str> {
    let mut i = 0;
    while i < content.len() && content[i] != b';' && content[i] != b':' {
        let c = content[i];
        if !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' || c == b'/') {
            return Err("not a content line (bad character in the property name)");
        }
        i += 1;
    }
    if i == 0 {
        return Err("not a content line (no property name)");
    }
    if i == content.len() {
        return Err("not a content line (no `:` after the property name)");
    }
    let name_len = i;
    let mut in_quote = false;
    while i < content.len() {
        match content[i] {
            b'"' => in_quote = !in_quote,
            b':' if !in_quote => return Ok((name_len, i)),
            _ => {}
        }
        i += 1;
    }
    // An unbalanced quote: tolerate it as most parsers do, taking the first colon.
    match content[name_len..].iter().position(|&b| b == b':') {
        Some(p) => Ok((name_len, name_len + p)),
        None => Err("not a content line (no `:` after the parameters)"),
    }
}

/// The start of a line for an error message: at most 40 characters, lossily decoded.
fn snippet(content: &[u8]) -> String {
    let text = String::from_utf8_lossy(&content[..content.len().min(120)]);
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(40).collect();
    if text.chars().count() > 40 || content.len() > 120 {
        out.push_str("...");
    }
    out
}

struct Pending<'a> {
    start: usize,
    content_end: usize,
    lineno: usize,
    content: Cow<'a, [u8]>,
}

impl<'a> Pending<'a> {
    fn append(&mut self, more: &[u8], content_end: usize) {
        self.content.to_mut().extend_from_slice(more);
        self.content_end = content_end;
    }

    fn finish(self, end: usize) -> Result<Line<'a>, ParseError> {
        let (name_len, colon) = locate(&self.content).map_err(|m| ParseError {
            line: self.lineno,
            message: format!("{m}: `{}`", snippet(&self.content)),
        })?;
        Ok(Line {
            start: self.start,
            end,
            content_end: self.content_end,
            lineno: self.lineno,
            content: self.content,
            name_len,
            colon,
        })
    }
}

/// Cuts `input` into logical lines. Blank lines are skipped (they stay inside the span of the
/// line before them); a leading UTF-8 byte order mark is skipped.
pub(crate) fn lex(kind: ItemKind, input: &[u8]) -> Result<Vec<Line<'_>>, ParseError> {
    let body_start = if input.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut lines: Vec<Line<'_>> = Vec::with_capacity(input.len() / 40 + 4);
    let mut pending: Option<Pending<'_>> = None;
    for (index, phys) in physical_lines(&input[body_start..]).enumerate() {
        let lineno = index + 1;
        let start = phys.start + body_start;
        let content_end = phys.content_end + body_start;
        let text = &input[start..content_end];
        if text.is_empty() {
            // A quoted-printable soft break followed by an empty line ends the value there.
            if let Some(p) = pending.as_mut() {
                if kind == ItemKind::Contacts && is_soft_break(&p.content) {
                    p.content.to_mut().pop();
                }
            }
            continue;
        }
        if let Some(p) = pending.as_mut() {
            if kind == ItemKind::Contacts && is_soft_break(&p.content) {
                p.content.to_mut().pop();
                p.append(text, content_end);
                continue;
            }
            if text[0] == b' ' || text[0] == b'\t' {
                p.append(&text[1..], content_end);
                continue;
            }
            if kind == ItemKind::Contacts && !text.contains(&b':') {
                let colon = p.content.iter().position(|&b| b == b':');
                if colon.is_some_and(|c| is_base64(&p.content[..c])) {
                    p.append(text.trim_ascii(), content_end);
                    continue;
                }
            }
            let done = pending.take().expect("pending line");
            lines.push(done.finish(start)?);
        }
        pending = Some(Pending {
            start,
            content_end,
            lineno,
            content: Cow::Borrowed(text),
        });
    }
    if let Some(p) = pending {
        lines.push(p.finish(input.len())?);
    }
    Ok(lines)
}

/// The line ending used by the line that ends at `content_end`: what new lines next to it
/// should use.
pub(crate) fn eol_at(input: &[u8], content_end: usize) -> &'static [u8] {
    match (input.get(content_end), input.get(content_end + 1)) {
        (Some(b'\r'), Some(b'\n')) => b"\r\n",
        (Some(b'\n'), _) => b"\n",
        (Some(b'\r'), _) => b"\r",
        _ => b"\r\n",
    }
}

/// Appends `line` folded at 75 octets (never inside a UTF-8 sequence), with `eol` after each
/// physical line.
pub(crate) fn push_folded(out: &mut Vec<u8>, line: &[u8], eol: &[u8]) {
    let mut rest = line;
    let mut limit = 75;
    loop {
        if rest.len() <= limit {
            out.extend_from_slice(rest);
            out.extend_from_slice(eol);
            return;
        }
        let mut cut = limit;
        while cut > 1 && (rest[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        out.extend_from_slice(&rest[..cut]);
        out.extend_from_slice(eol);
        out.push(b' ');
        rest = &rest[cut..];
        limit = 74;
    }
}
