//! [`ContentHash`]: an item's fingerprint as the engine stores and compares it.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// The SHA-256 of an item's normalized form ([`Item::hash`](super::Item::hash)): equal for
/// versions a person would call equal. The engine keeps it per side in its status to tell a
/// real edit from noise, and it identifies an item without UID.
///
/// A type of its own so that a hash cannot be passed where an etag or an href is meant: all
/// three are hex-looking strings in the status. The default, empty, stands for a hash not
/// known (a status column left NULL).
///
/// Held as the 32 bytes of the digest, not as its 64 hex characters: the engine keeps two per
/// status row, and at tens of thousands of items the text (a heap string of 64 bytes plus its
/// header) was a large part of a sync's memory. Its text, [`ContentHash::as_str`], is the
/// lowercase hex that the status file has always stored. Any other text read back (a marker
/// made up by the engine, or a hash written by another version) is kept as it is, so
/// equality and order are exactly those of the texts.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ContentHash(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// A digest whose text is its lowercase hex.
    Digest([u8; 32]),
    /// Any other text (empty: not known). Never the lowercase hex of 32 bytes, so that one
    /// text has one representation.
    Text(Box<str>),
}

impl ContentHash {
    pub(super) fn of_digest(digest: &[u8; 32]) -> ContentHash {
        ContentHash(Repr::Digest(*digest))
    }

    /// The text stored in the status: the lowercase hex of the digest.
    pub fn as_str(&self) -> Cow<'_, str> {
        match &self.0 {
            Repr::Digest(d) => Cow::Owned(hex::encode(d)),
            Repr::Text(t) => Cow::Borrowed(t),
        }
    }
}

impl Default for ContentHash {
    fn default() -> Self {
        ContentHash(Repr::Text(Box::from("")))
    }
}

/// The order of the texts: lowercase hex sorts as the bytes it encodes, so two digests are
/// compared without spelling them out.
impl Ord for ContentHash {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Digest(x), Repr::Digest(y)) => x.cmp(y),
            _ => self.as_str().cmp(&other.as_str()),
        }
    }
}

impl PartialOrd for ContentHash {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({:?})", self.as_str())
    }
}

/// A hash read back from where it was kept (the status) or made up by the engine (the
/// marker of an imported vdirsyncer hash): taken as it is, not checked. The lowercase hex of
/// 32 bytes is held as those bytes.
impl From<&str> for ContentHash {
    fn from(s: &str) -> Self {
        let mut digest = [0u8; 32];
        let lower_hex = s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        if lower_hex && hex::decode_to_slice(s, &mut digest).is_ok() {
            ContentHash(Repr::Digest(digest))
        } else {
            ContentHash(Repr::Text(Box::from(s)))
        }
    }
}

impl From<String> for ContentHash {
    fn from(s: String) -> Self {
        ContentHash::from(s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(b: u8) -> String {
        hex::encode([b; 32])
    }

    #[test]
    fn lowercase_hex_reads_back_as_the_same_text() {
        let h = ContentHash::from(hex_of(0xab));
        assert!(matches!(h.0, Repr::Digest(_)));
        assert_eq!(h.as_str(), hex_of(0xab));
        assert_eq!(h, ContentHash::of_digest(&[0xab; 32]));
    }

    #[test]
    fn other_texts_are_kept_as_they_are() {
        let upper = hex_of(0xab).to_uppercase();
        for text in ["", "vdirsyncer:h2", "9f86d081", upper.as_str()] {
            let h = ContentHash::from(text);
            assert_eq!(h.as_str(), text);
            assert!(matches!(h.0, Repr::Text(_)), "{text}");
        }
        assert_eq!(ContentHash::default().as_str(), "");
        assert_ne!(
            ContentHash::from(upper.as_str()),
            ContentHash::from(hex_of(0xab))
        );
    }

    #[test]
    fn hashes_order_as_their_texts() {
        let texts = [
            hex_of(0x0f),
            hex_of(0xf0),
            "a".to_owned(),
            "g".to_owned(),
            String::new(),
        ];
        for x in &texts {
            for y in &texts {
                let (hx, hy) = (ContentHash::from(x.as_str()), ContentHash::from(y.as_str()));
                assert_eq!(hx.cmp(&hy), x.cmp(y), "{x} vs {y}");
            }
        }
    }
}
