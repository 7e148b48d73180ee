//! Writing the merge: b's changes as byte edits on a's text.

use std::ops::Range;

use super::super::component::Component;
use super::super::contentline::eol_at;
use super::super::datetime::parse_timestamp;
use super::model::{Doc, Node, Prop, STAMPS};
use super::MergePass;

struct Edit {
    range: Range<usize>,
    /// Orders insertions at one offset: b's document order.
    seq: usize,
    bytes: Vec<u8>,
}

/// Edits collected on a's bytes.
pub(super) struct Splice<'d, 'a> {
    a: &'d Doc<'a>,
    b: &'d Doc<'a>,
    /// The line ending of a's text, used for every line taken from b.
    eol: &'static [u8],
    edits: Vec<Edit>,
}

/// Insertions of components sort after insertions of properties at the same offset.
const COMPONENT_SEQ: usize = 1 << 32;

impl<'d, 'a> Splice<'d, 'a> {
    pub fn new(a: &'d Doc<'a>, b: &'d Doc<'a>) -> Self {
        let begin = &a.lines[a.top.begin];
        // CR CR LF (written by some Apple exports) is kept as what it is: a's line ending.
        let eol = match &a.raw[begin.content_end..begin.end] {
            b"\r\r\n" => b"\r\r\n",
            _ => eol_at(a.raw, begin.content_end),
        };
        Splice {
            a,
            b,
            eol,
            edits: Vec::new(),
        }
    }

    /// b's bytes `range` with every line ending made a's (a run of line-ending bytes, blank
    /// lines included, is one line ending).
    fn copy_from_b(&self, range: Range<usize>, out: &mut Vec<u8>) {
        let src = &self.b.raw[range];
        let mut in_break = false;
        for &c in src {
            if c == b'\r' || c == b'\n' {
                if !in_break {
                    out.extend_from_slice(self.eol);
                }
                in_break = true;
            } else {
                out.push(c);
                in_break = false;
            }
        }
        out.extend_from_slice(self.eol);
    }

    fn b_lines(&self, lines: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        for &i in lines {
            let l = &self.b.lines[i];
            self.copy_from_b(l.start..l.content_end, &mut out);
        }
        out
    }

    fn b_comp(&self, c: &Component) -> Vec<u8> {
        let mut out = Vec::new();
        let lines = &self.b.lines;
        self.copy_from_b(lines[c.begin].start..lines[c.end].content_end, &mut out);
        out
    }

    fn push(&mut self, range: Range<usize>, seq: usize, bytes: Vec<u8>) {
        self.edits.push(Edit { range, seq, bytes });
    }

    fn a_span(&self, i: usize) -> Range<usize> {
        let l = &self.a.lines[i];
        l.start..l.end
    }

    pub fn replace_prop(&mut self, x: &Prop, y: &Prop) {
        let bytes = self.b_lines(&y.lines);
        let first = self.a_span(x.lines[0]);
        self.push(first, 0, bytes);
        for &i in &x.lines[1..] {
            let span = self.a_span(i);
            self.push(span, 0, Vec::new());
        }
    }

    pub fn delete_prop(&mut self, x: &Prop) {
        for &i in &x.lines {
            let span = self.a_span(i);
            self.push(span, 0, Vec::new());
        }
    }

    /// Inserts b's property after the property of a that comes before it in b (or after a's
    /// BEGIN line when none does), so that an added EMAIL lands next to the other EMAILs.
    pub fn insert_prop(&mut self, x: &Node<'_>, y: &Node<'_>, key: &[u8], yp: &Prop) {
        let index = y.order.iter().position(|k| k == key).unwrap_or(0);
        let at = y.order[..index]
            .iter()
            .rev()
            .find_map(|k| x.props.get(k))
            .map(|p| self.a.lines[*p.lines.last().expect("a property has a line")].end)
            .unwrap_or(self.a.lines[x.comp.begin].end);
        let bytes = self.b_lines(&yp.lines);
        self.push(at..at, index, bytes);
    }

    pub fn replace_comp(&mut self, xc: &Component, yc: &Component) {
        let bytes = self.b_comp(yc);
        let lines = &self.a.lines;
        let range = lines[xc.begin].start..lines[xc.end].end;
        self.push(range, 0, bytes);
    }

    pub fn delete_comp(&mut self, xc: &Component) {
        let lines = &self.a.lines;
        let range = lines[xc.begin].start..lines[xc.end].end;
        self.push(range, 0, Vec::new());
    }

    /// Inserts b's component before a's END line; a VTIMEZONE goes before a's first component
    /// that is not one, where calendars keep them.
    pub fn insert_comp(&mut self, x: &Node<'_>, y: &Node<'_>, key: &[u8], yc: &Component) {
        let index = y.child_order.iter().position(|k| k == key).unwrap_or(0);
        let lines = &self.a.lines;
        let end = lines[x.comp.end].start;
        let at = if yc.name == "VTIMEZONE" {
            x.comp
                .children
                .iter()
                .find(|c| c.name != "VTIMEZONE")
                .map_or(end, |c| lines[c.begin].start)
        } else {
            end
        };
        let bytes = self.b_comp(yc);
        self.push(at..at, COMPONENT_SEQ + index, bytes);
    }

    /// LAST-MODIFIED, DTSTAMP and REV of a component merged from both sides: b's when later.
    pub fn stamps(&mut self, x: &Node<'_>, y: &Node<'_>) {
        for name in STAMPS {
            let Some(yl) = y.comp.prop(&self.b.lines, name) else {
                continue;
            };
            let Some(yt) = parse_timestamp(yl.value()) else {
                continue;
            };
            let yl_lines = [self
                .b
                .lines
                .iter()
                .position(|l| std::ptr::eq(l, yl))
                .expect("the line is one of b's")];
            match x.comp.prop(&self.a.lines, name) {
                Some(xl) => {
                    if parse_timestamp(xl.value()).is_some_and(|xt| xt >= yt) {
                        continue;
                    }
                    let range = xl.start..xl.end;
                    let bytes = self.b_lines(&yl_lines);
                    self.push(range, 0, bytes);
                }
                None => {
                    let at = self.a.lines[x.comp.begin].end;
                    let bytes = self.b_lines(&yl_lines);
                    self.push(at..at, 0, bytes);
                }
            }
        }
    }

    /// a's text with the edits applied. Overlapping edits would mean two decisions about one
    /// line: the merge passes rather than guess.
    pub fn apply(mut self) -> Result<Vec<u8>, MergePass> {
        self.edits
            .sort_by_key(|e| (e.range.start, e.range.end, e.seq));
        let raw = self.a.raw;
        let mut out = Vec::with_capacity(raw.len() + 256);
        let mut pos = 0;
        for e in &self.edits {
            if e.range.start < pos {
                return Err(MergePass::Unfaithful("two edits of one line".into()));
            }
            out.extend_from_slice(&raw[pos..e.range.start]);
            out.extend_from_slice(&e.bytes);
            pos = e.range.end;
        }
        out.extend_from_slice(&raw[pos..]);
        Ok(out)
    }
}
