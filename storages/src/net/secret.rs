//! Passwords and bearer tokens in memory.
//!
//! A [`Secret`] cannot be printed (its `Debug` is `<redacted>` and it has no `Display`), and
//! its bytes are overwritten with zeros when it is dropped ([`zeroize`]), so a password does
//! not outlive its use in freed heap memory that a core dump or a later allocation could
//! show. Copies are few and deliberate: [`Secret::expose`] is called where a header is built,
//! and the strings built there are zeroized too.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A password (or bearer token) that cannot leak through `Debug` and is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Secret {}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the few places that build an `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_part_of_the_secret() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secrets_are_wiped_on_drop() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<Secret>();
        // What drop runs: the bytes are overwritten, the buffer kept until it is freed.
        let mut s = String::from("hunter2");
        let cap = s.capacity();
        s.zeroize();
        assert!(s.is_empty());
        assert_eq!(s.capacity(), cap);
    }
}
