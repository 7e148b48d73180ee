//! [`ContentHash`]: an item's fingerprint as the engine stores and compares it.

use std::fmt;

/// The hex SHA-256 of an item's normalized form ([`Item::hash`](super::Item::hash)): equal
/// for versions a person would call equal. The engine keeps it per side in its status to
/// tell a real edit from noise, and it identifies an item without UID.
///
/// A type of its own so that a hash cannot be passed where an etag or an href is meant: all
/// three are hex-looking strings in the status. The default, empty, stands for a hash not
/// known (a status column left NULL).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(String);

impl ContentHash {
    pub(super) fn of_digest(digest: &[u8; 32]) -> ContentHash {
        ContentHash(hex::encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A hash read back from where it was kept (the status) or made up by the engine (the
/// marker of an imported vdirsyncer hash): taken as it is, not checked.
impl From<String> for ContentHash {
    fn from(s: String) -> Self {
        ContentHash(s)
    }
}

impl From<&str> for ContentHash {
    fn from(s: &str) -> Self {
        ContentHash(s.to_owned())
    }
}
