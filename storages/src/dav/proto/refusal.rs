//! What a server says in the body of a refused write: the `DAV:error` preconditions of
//! RFC 4918 §16 (CalDAV's `supported-calendar-component`, `no-uid-conflict`, WebDAV's
//! `need-privileges`) and SabreDAV's human message (Nextcloud's "This calendar is
//! read-only"). A status alone ("403 Forbidden") does not tell a user whether the calendar
//! is read-only, takes no tasks, or holds the UID elsewhere.

use super::names;
use super::xml::{Ev, XmlIn};

/// Longest server message quoted, in characters.
const MESSAGE_MAX: usize = 200;

/// `" (the server says: supported-calendar-component)"`, or an empty string when the body
/// is not a `DAV:error` naming anything.
pub fn refusal_note(body: &[u8]) -> String {
    let mut x = XmlIn::new(body);
    if x.expect_root(names::ERROR).is_err() {
        return String::new();
    }
    let mut said: Vec<String> = Vec::new();
    loop {
        match x.next() {
            Ok(Ev::Start { ns, local, .. }) if x.depth() == 2 => {
                if names::SABRE_MESSAGE.is(&ns, &local) {
                    let Ok(text) = x.read_text() else { break };
                    let text: String = text
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(MESSAGE_MAX)
                        .collect();
                    if !text.is_empty() {
                        said.push(format!("\"{text}\""));
                    }
                } else {
                    if !names::SABRE_EXCEPTION.is(&ns, &local) {
                        said.push(local);
                    }
                    if x.skip().is_err() {
                        break;
                    }
                }
            }
            Ok(Ev::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    if said.is_empty() {
        return String::new();
    }
    format!(" (the server says: {})", said.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caldav_preconditions_are_named() {
        let body = br#"<?xml version="1.0"?><D:error xmlns:D="DAV:"
            xmlns:C="urn:ietf:params:xml:ns:caldav"><C:supported-calendar-component/></D:error>"#;
        assert_eq!(
            refusal_note(body),
            " (the server says: supported-calendar-component)"
        );
        let body = br#"<d:error xmlns:d="DAV:"><d:need-privileges><d:resource>
            <d:href>/cal/a.ics</d:href><d:privilege><d:write-content/></d:privilege>
            </d:resource></d:need-privileges></d:error>"#;
        assert_eq!(refusal_note(body), " (the server says: need-privileges)");
    }

    #[test]
    fn sabre_messages_are_quoted_and_its_exception_class_left_out() {
        let body = br#"<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">
            <s:exception>Sabre\DAV\Exception\Forbidden</s:exception>
            <s:message>This calendar
              is read-only</s:message></d:error>"#;
        assert_eq!(
            refusal_note(body),
            " (the server says: \"This calendar is read-only\")"
        );
    }

    #[test]
    fn anything_else_says_nothing() {
        for body in [
            &b""[..],
            b"Forbidden",
            b"<html><body>403</body></html>",
            br#"{"error":{"code":403}}"#,
            br#"<d:multistatus xmlns:d="DAV:"/>"#,
            br#"<d:error xmlns:d="DAV:"/>"#,
            br#"<d:error xmlns:d="DAV:"><d:no-uid"#,
        ] {
            assert_eq!(refusal_note(body), "", "{}", String::from_utf8_lossy(body));
        }
    }
}
