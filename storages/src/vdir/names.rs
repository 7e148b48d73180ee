//! Which file name an item gets: the UID itself when that is safe, else its hash.
//!
//! The rules are in the module docs of [`super`]; they are what `repair` checks existing
//! names against, so they live in one place with the tests that pin them.

use sha2::{Digest, Sha256};

/// Longest UID (in bytes) used verbatim as a file name; longer ones are hashed. Leaves room
/// for the extension within the usual 255-byte limit of a file name.
pub const MAX_PLAIN_NAME: usize = 200;

/// True when `uid` can be a file name as it is (see the module docs for the rules).
pub fn is_safe_file_stem(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= MAX_PLAIN_NAME
        && !uid.starts_with('.')
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'+' | b'@'))
        && !is_windows_device_name(uid)
}

/// `CON`, `PRN`, `AUX`, `NUL`, `COM1`-`COM9`, `LPT1`-`LPT9`, alone or before a dot, in any
/// case: Windows refuses these as file names whatever the extension.
fn is_windows_device_name(stem: &str) -> bool {
    let base = stem.split('.').next().unwrap_or("").to_ascii_uppercase();
    matches!(base.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (base.len() == 4
            && (base.starts_with("COM") || base.starts_with("LPT"))
            && matches!(base.as_bytes()[3], b'1'..=b'9'))
}

/// The file name (without extension) an item with this UID is stored under.
pub fn file_stem_for_uid(uid: &str) -> String {
    if is_safe_file_stem(uid) {
        uid.to_owned()
    } else {
        hex::encode(Sha256::digest(uid.as_bytes()))
    }
}

/// A name usable as one entry of a folder we own: not empty, no separator or NUL, not hidden.
pub(super) fn is_plain_component(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_uids_are_used_verbatim() {
        assert_eq!(
            file_stem_for_uid("abc-123@example.com"),
            "abc-123@example.com"
        );
        assert_eq!(file_stem_for_uid("a.b_c+d"), "a.b_c+d");
    }

    #[test]
    fn unsafe_uids_are_hashed() {
        for uid in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a\\b",
            "a\0b",
            "a b",
            "tab\there",
            "ünïcode",
            "CON",
            "nul.txt",
            "com1",
            "LPT9",
        ] {
            let stem = file_stem_for_uid(uid);
            assert_eq!(stem.len(), 64, "{uid:?}");
            assert!(stem.bytes().all(|b| b.is_ascii_hexdigit()), "{uid:?}");
        }
        assert_eq!(
            file_stem_for_uid(&"x".repeat(MAX_PLAIN_NAME)).len(),
            MAX_PLAIN_NAME
        );
        assert_eq!(file_stem_for_uid(&"x".repeat(MAX_PLAIN_NAME + 1)).len(), 64);
    }

    #[test]
    fn device_name_lookalikes_stay_plain() {
        assert_eq!(file_stem_for_uid("CONSOLE"), "CONSOLE");
        assert_eq!(file_stem_for_uid("COM0"), "COM0");
        assert_eq!(file_stem_for_uid("com10"), "com10");
    }
}
