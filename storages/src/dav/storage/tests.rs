//! Unit tests of the helpers that need no server.

use super::write::strong;
use super::*;

#[test]
fn safe_uids_become_file_names() {
    assert_eq!(item_file_name("abc-DEF_1.2~x", ".ics"), "abc-DEF_1.2~x.ics");
}

#[test]
fn unsafe_uids_are_hashed() {
    for uid in ["..", ".hidden", "a/b?c#d", "with space", "ümlaut", ""] {
        let name = item_file_name(uid, ".vcf");
        assert_eq!(name.len(), 64 + 4, "{uid:?} -> {name}");
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b.is_ascii_lowercase()));
    }
    let long = "x".repeat(300);
    assert_eq!(item_file_name(&long, ".ics").len(), 68);
    assert_eq!(item_file_name(&"x".repeat(200), ".ics").len(), 204);
}

#[test]
fn weak_etags_are_sent_strong() {
    assert_eq!(strong("W/\"abc\"", "x").unwrap(), "\"abc\"");
    assert_eq!(strong("abc", "x").unwrap(), "\"abc\"");
    assert_eq!(strong("\"abc\"", "x").unwrap(), "\"abc\"");
}
