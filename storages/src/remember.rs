//! What network storages learn about their server and keep between runs: the auth scheme a
//! server asked for, where discovery found the home sets. Asking again costs round trips
//! on every sync (and a second per storage on servers that delay every failed login), so the
//! answers are kept, and checked again whenever the server stops agreeing with them.
//!
//! The storages crate never knows where this is kept: the application hands a storage an
//! implementation of [`Remember`] (davsync keeps one file per key in its status folder).
//! Values are small JSON texts that never hold a password or token; a value that cannot be
//! read back is treated as absent, so losing or corrupting one costs one slower sync.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// A small persistent key -> value store. Implementations report their own I/O problems
/// (a warning, say): for the storage, a failed `keep` is a remembered nothing.
pub trait Remember: Send + Sync + fmt::Debug {
    /// The value kept under `key`, `None` when there is none or it could not be read.
    fn recall(&self, key: &str) -> Option<String>;
    /// Keeps `value` under `key`, replacing what was there.
    fn keep(&self, key: &str, value: &str);
    /// Drops what is kept under `key`.
    fn forget(&self, key: &str);
    /// False when the command asked for everything to be found out again (`discover`): the
    /// storage then ignores what it remembered about its collections and keeps the new
    /// answers.
    fn trust_recalled(&self) -> bool {
        true
    }
}

/// A [`Remember`] that lives as long as the process: for tests, and for callers that do
/// not keep anything between runs.
#[derive(Debug, Default)]
pub struct InMemory {
    values: Mutex<HashMap<String, String>>,
}

impl InMemory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key and value kept, sorted by key (tests look at what would be written).
    pub fn snapshot(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .values
            .lock()
            .expect("remembered values poisoned")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort();
        v
    }
}

impl Remember for InMemory {
    fn recall(&self, key: &str) -> Option<String> {
        self.values
            .lock()
            .expect("remembered values poisoned")
            .get(key)
            .cloned()
    }

    fn keep(&self, key: &str, value: &str) {
        self.values
            .lock()
            .expect("remembered values poisoned")
            .insert(key.to_owned(), value.to_owned());
    }

    fn forget(&self, key: &str) {
        self.values
            .lock()
            .expect("remembered values poisoned")
            .remove(key);
    }
}
