//! Failure injection for a [`MemoryStorage`]: failing writes, reads, listings and flushes,
//! a concurrent edit right before a write, a hang after a write (a kill at the worst moment)
//! and volatile mode with a power loss. The engine's promises are about what it does when
//! the storage misbehaves; these hooks make it misbehave on cue.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use super::{MemCollection, MemoryStorage};
use crate::error::{Error, ErrorKind, Result};
use crate::storage::{Collection, Href, Storage};

#[derive(Debug, Default)]
pub(super) struct Hooks {
    /// Fail this many of the next write calls.
    pub(super) fail_writes: usize,
    pub(super) fail_write_kind: Option<ErrorKind>,
    /// Writes to these hrefs fail (upload: the href the item would get).
    pub(super) fail_hrefs: HashSet<Href>,
    /// `list` (and `changes`) fail this many times.
    pub(super) fail_lists: usize,
    /// `get_many` fails for these hrefs (each entry, not the whole call).
    pub(super) fail_reads: HashSet<Href>,
    /// Before the next write to this href, replace its content (a concurrent edit).
    pub(super) concurrent_edit: Option<(Href, Vec<u8>)>,
    /// After this many more successful writes, every write hangs forever after completing.
    pub(super) hang_after: Option<usize>,
    /// Volatile mode: the state as of the last [`Storage::flush`], what a power loss
    /// returns to.
    pub(super) durable: Option<BTreeMap<String, MemCollection>>,
    /// `flush` fails this many times.
    pub(super) fail_flushes: usize,
}

impl MemoryStorage {
    /// The next `n` write calls fail with `kind`.
    pub fn fail_next_writes(&self, n: usize, kind: ErrorKind) {
        let mut h = self.hooks.lock().unwrap();
        h.fail_writes = n;
        h.fail_write_kind = Some(kind);
    }

    /// Every write to `href` fails with [`ErrorKind::Refused`] (uploads: the href derived
    /// from the UID, see [`preferred_href`](Storage::preferred_href)).
    pub fn fail_href(&self, href: &str) {
        self.hooks
            .lock()
            .unwrap()
            .fail_hrefs
            .insert(Href::from(href));
    }

    /// Reading `href` fails with [`ErrorKind::Transport`].
    pub fn fail_read(&self, href: &str) {
        self.hooks
            .lock()
            .unwrap()
            .fail_reads
            .insert(Href::from(href));
    }

    /// The next `n` listings fail with [`ErrorKind::Transport`].
    pub fn fail_next_lists(&self, n: usize) {
        self.hooks.lock().unwrap().fail_lists = n;
    }

    /// Right before the next write to `href`, someone else stores `raw` there, so that
    /// write meets a fresh etag.
    pub fn edit_before_next_write(&self, href: &str, raw: impl Into<Vec<u8>>) {
        self.hooks.lock().unwrap().concurrent_edit = Some((Href::from(href), raw.into()));
    }

    /// After `n` more writes succeed, the next write completes and then never returns: the
    /// caller is stuck as if killed right after the storage acted.
    pub fn hang_after_writes(&self, n: usize) {
        self.hooks.lock().unwrap().hang_after = Some(n);
    }

    /// Clears every injected failure (and leaves volatile mode).
    pub fn clear_failures(&self) {
        *self.hooks.lock().unwrap() = Hooks::default();
    }

    /// Volatile mode: from now on writes are only durable once [`Storage::flush`] returned,
    /// like files in a page cache; [`MemoryStorage::power_loss`] drops the rest.
    pub fn set_volatile(&self) {
        let now = self.state.lock().unwrap().clone();
        self.hooks.lock().unwrap().durable = Some(now);
    }

    /// In volatile mode, forgets every write made since the last flush. Returns how many
    /// collections differed (0: nothing was lost).
    pub fn power_loss(&self) -> usize {
        let durable = self.hooks.lock().unwrap().durable.clone();
        let Some(durable) = durable else { return 0 };
        let mut state = self.state.lock().unwrap();
        let lost = state
            .iter()
            .filter(|(k, v)| durable.get(*k).map(|d| d.items != v.items) != Some(false))
            .count();
        *state = durable;
        lost
    }

    /// The next `n` calls of [`Storage::flush`] fail (with [`ErrorKind::Io`]).
    pub fn fail_next_flushes(&self, n: usize) {
        self.hooks.lock().unwrap().fail_flushes = n;
    }

    /// Counts a write and applies the hooks that act before it.
    pub(super) fn before_write(&self, coll: &Collection, href: Option<&Href>) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.read_only() {
            return Err(Error::new(ErrorKind::ReadOnly, coll.href.clone()));
        }
        let edit = {
            let mut h = self.hooks.lock().unwrap();
            if h.fail_writes > 0 {
                h.fail_writes -= 1;
                let kind = h.fail_write_kind.unwrap_or(ErrorKind::Transport);
                return Err(Error::new(
                    kind,
                    format!("injected failure on {}", coll.href),
                ));
            }
            if let Some(href) = href {
                if h.fail_hrefs.contains(href) {
                    return Err(Error::new(ErrorKind::Refused, href.to_string()));
                }
            }
            match (&h.concurrent_edit, href) {
                (Some((eh, _)), Some(href)) if eh == href => h.concurrent_edit.take(),
                _ => None,
            }
        };
        if let Some((href, raw)) = edit {
            self.insert_raw(&coll.href, href.as_str(), raw);
        }
        Ok(())
    }

    /// Applies the hang hook after a successful write.
    pub(super) async fn after_write(&self) {
        let hang = {
            let mut h = self.hooks.lock().unwrap();
            match h.hang_after {
                Some(0) => true,
                Some(n) => {
                    h.hang_after = Some(n - 1);
                    false
                }
                None => false,
            }
        };
        if hang {
            std::future::pending::<()>().await;
        }
    }
}
