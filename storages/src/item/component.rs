//! The component tree over logical lines (BEGIN/END nesting), holding line indices only.

use std::ops::Range;

use super::contentline::Line;
use super::ParseError;

#[derive(Debug)]
pub(crate) struct Component {
    /// Upper-case component name (`VEVENT`).
    pub name: String,
    /// Index of the BEGIN line.
    pub begin: usize,
    /// Index of the END line.
    pub end: usize,
    /// Indices of the component's own property lines, in order.
    pub props: Vec<usize>,
    pub children: Vec<Component>,
}

impl Component {
    /// The component's bytes in the input, from its BEGIN line to the start of the line after
    /// its END (so its line ending and trailing blank lines come along).
    pub fn span(&self, lines: &[Line<'_>]) -> Range<usize> {
        lines[self.begin].start..lines[self.end].end
    }

    /// The first property of that name (case-insensitive, vCard group ignored).
    pub fn prop<'l, 'a>(&self, lines: &'l [Line<'a>], name: &str) -> Option<&'l Line<'a>> {
        self.props.iter().map(|&i| &lines[i]).find(|l| l.is(name))
    }

    /// The trimmed UID value, lossily decoded; `None` if absent or empty.
    pub fn uid(&self, lines: &[Line<'_>]) -> Option<String> {
        let l = self.prop(lines, "UID")?;
        let v = l.value().trim_ascii();
        (!v.is_empty()).then(|| String::from_utf8_lossy(v).into_owned())
    }

    /// Calls `f` for every property line of this component and of its descendants.
    pub fn walk_props<'l, 'a>(&self, lines: &'l [Line<'a>], f: &mut impl FnMut(&'l Line<'a>)) {
        for &i in &self.props {
            f(&lines[i]);
        }
        for c in &self.children {
            c.walk_props(lines, f);
        }
    }
}

fn comp_name(line: &Line<'_>) -> Result<String, ParseError> {
    let v = line.value().trim_ascii();
    if v.is_empty()
        || !v
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Err(ParseError {
            line: line.lineno,
            message: format!(
                "invalid component name in `{}`",
                String::from_utf8_lossy(&line.content)
            ),
        });
    }
    Ok(String::from_utf8_lossy(v).to_ascii_uppercase())
}

/// Builds the top-level components. Every line must sit inside a component and every BEGIN
/// must be closed by the matching END.
pub(crate) fn parse_tree(lines: &[Line<'_>]) -> Result<Vec<Component>, ParseError> {
    let Some(first) = lines.first() else {
        return Err(ParseError {
            line: 1,
            message: "empty: no BEGIN: line".into(),
        });
    };
    if !first.name().eq_ignore_ascii_case(b"BEGIN") {
        return Err(ParseError {
            line: first.lineno,
            message: "does not begin with BEGIN:".into(),
        });
    }
    let mut top = Vec::new();
    let mut stack: Vec<Component> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let name = line.name();
        if name.eq_ignore_ascii_case(b"BEGIN") {
            stack.push(Component {
                name: comp_name(line)?,
                begin: i,
                end: i,
                props: Vec::new(),
                children: Vec::new(),
            });
        } else if name.eq_ignore_ascii_case(b"END") {
            let end_name = comp_name(line)?;
            let Some(mut c) = stack.pop() else {
                return Err(ParseError {
                    line: line.lineno,
                    message: format!("END:{end_name} without a matching BEGIN"),
                });
            };
            if c.name != end_name {
                return Err(ParseError {
                    line: line.lineno,
                    message: format!(
                        "END:{end_name} does not match BEGIN:{} on line {}",
                        c.name, lines[c.begin].lineno
                    ),
                });
            }
            c.end = i;
            match stack.last_mut() {
                Some(parent) => parent.children.push(c),
                None => top.push(c),
            }
        } else {
            match stack.last_mut() {
                Some(c) => c.props.push(i),
                None => {
                    return Err(ParseError {
                        line: line.lineno,
                        message: format!(
                            "property {} outside of any component",
                            String::from_utf8_lossy(name)
                        ),
                    })
                }
            }
        }
    }
    if let Some(c) = stack.first() {
        let open = stack.last().unwrap_or(c);
        return Err(ParseError {
            line: lines[open.begin].lineno,
            message: format!(
                "truncated: BEGIN:{} is never closed (END:{} missing)",
                open.name, open.name
            ),
        });
    }
    Ok(top)
}
