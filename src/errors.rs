//! The one way an error and its causes become text, for every command: `what: why: why`,
//! outermost first, ending in the innermost cause.
//!
//! Each level is printed once: a level whose text an outer level already holds (a wrapper
//! that repeats its source, anyhow's context over a storage error) is skipped, so no text
//! appears twice. The storages make the innermost cause of a network failure one a user can
//! act on (an unknown CA, an expired certificate, a pin mismatch naming both fingerprints, a
//! refused connection, a DNS failure: `davsync_storages::net::NetCause`); this renderer only
//! has to reach it.

use std::error::Error;

/// The error and every cause, once each, joined by `: `.
pub fn render(err: &(dyn Error + 'static)) -> String {
    let mut out = String::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use davsync_storages::{Error as StorageError, ErrorKind};

    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<dyn Error + Send + Sync>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn every_level_is_shown_outermost_first_down_to_the_innermost_cause() {
        let e = StorageError::new(
            ErrorKind::Transport,
            "GET https://dav.test/: could not connect",
        )
        .with_source(Layer(
            "the host name dav.test could not be resolved (DNS)",
            None,
        ));
        assert_eq!(
            render(&e),
            "GET https://dav.test/: could not connect: network error: the host name dav.test \
             could not be resolved (DNS)"
        );
    }

    #[test]
    fn a_text_already_shown_is_not_repeated() {
        let inner = Layer("connection reset", None);
        let middle = Layer("request failed: connection reset", Some(Box::new(inner)));
        let outer = Layer("sync of work", Some(Box::new(middle)));
        assert_eq!(
            render(&outer),
            "sync of work: request failed: connection reset"
        );
    }

    #[test]
    fn an_anyhow_error_renders_the_same_way() {
        let e = anyhow::Error::new(Layer("inner", None)).context("outer");
        assert_eq!(render(e.as_ref()), "outer: inner");
    }
}
