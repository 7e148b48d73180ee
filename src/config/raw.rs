//! The config file exactly as written: strict serde structs, every value kept with its span
//! so that the resolving layer can point at it.
//!
//! A storage is one flat struct holding the keys of every type (`deny_unknown_fields` rejects
//! a misspelled key with serde's own span), and the resolving layer then rejects (through
//! [`RawStorage::present_keys`]) the keys its `type` does not take. This two-step form is
//! used instead of an internally tagged enum because serde buffers tagged enums, which loses
//! the spans of the keys inside.
//!
//! Values with several accepted shapes (`password`, `verify`, `collections` entries,
//! `conflict_resolution`, dates, `timeout`) have hand-written visitors rather than
//! `#[serde(untagged)]`: untagged enums buffer their input too, which loses spans and
//! replaces the real problem with "did not match any variant".

use std::collections::BTreeMap;

use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub general: RawGeneral,
    #[serde(default)]
    pub storage: BTreeMap<Spanned<String>, Spanned<RawStorage>>,
    #[serde(default)]
    pub pair: BTreeMap<Spanned<String>, Spanned<RawPair>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawGeneral {
    pub status_path: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub path: Option<Spanned<String>>,
    pub fileext: Option<Spanned<String>>,
    pub post_hook: Option<Spanned<Vec<String>>>,
    pub url: Option<Spanned<String>>,
    pub username: Option<Spanned<String>>,
    /// Not `Spanned`: toml gives no span to a table written with dotted keys
    /// (`password.command = [...]`); see [`RawStorage::key_span`].
    pub password: Option<RawPassword>,
    pub auth: Option<Spanned<String>>,
    pub verify: Option<Spanned<RawVerify>>,
    pub verify_fingerprint: Option<Spanned<String>>,
    pub client_cert: Option<Spanned<String>>,
    pub start_date: Option<Spanned<RawDate>>,
    pub end_date: Option<Spanned<RawDate>>,
    pub item_types: Option<Spanned<Vec<String>>>,
    pub read_only: Option<Spanned<bool>>,
    pub timeout: Option<Spanned<RawSeconds>>,
    pub max_connections: Option<Spanned<i64>>,
    pub batch_size: Option<Spanned<i64>>,
}

/// `password.command`, `password.env` or `password.keyring`: exactly one of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPasswordTable {
    pub command: Option<Vec<String>>,
    pub env: Option<String>,
    pub keyring: Option<RawKeyring>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyring {
    pub service: String,
    pub username: String,
}

/// `{ command = ["vimdiff"] }` in `conflict_resolution`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommandStrategy {
    pub command: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPair {
    pub a: Spanned<String>,
    pub b: Spanned<String>,
    pub collections: Option<Spanned<Vec<Spanned<RawCollection>>>>,
    pub conflict_resolution: Option<Spanned<RawConflict>>,
    pub partial_sync: Option<Spanned<String>>,
    pub metadata: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `password`: a literal string or a table.
#[derive(Debug)]
pub enum RawPassword {
    Literal(String),
    Table(RawPasswordTable),
}

/// `verify`: a boolean or the path of a CA bundle.
#[derive(Debug)]
pub enum RawVerify {
    Bool(bool),
    CaBundle(String),
}

/// `start_date` / `end_date`: a string, or an unquoted TOML date/datetime.
#[derive(Debug)]
pub struct RawDate(pub String);

/// `timeout`: an integer or a float, in seconds.
#[derive(Debug)]
pub struct RawSeconds(pub f64);

/// One element of `collections`: a string or `["name", "name_on_a", "name_on_b"]`.
#[derive(Debug)]
pub enum RawCollection {
    Name(String),
    Mapped(Vec<String>),
}

/// One conflict resolution strategy: a name or `{ command = [...] }`.
#[derive(Debug)]
pub enum RawStrategy {
    Name(String),
    Command(RawCommandStrategy),
}

/// `conflict_resolution`: one strategy or a list of them.
#[derive(Debug)]
pub enum RawConflict {
    One(RawStrategy),
    List(Vec<RawStrategy>),
}

/// Implements `Deserialize` through a visitor accepting the listed shapes.
macro_rules! visitor {
    ($ty:ty, $expecting:literal, { $($method:item)* }) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    $($method)*
                }
                d.deserialize_any(V)
            }
        }
    };
}

visitor!(
    RawPassword,
    "a string, or a table with one of `command`, `env` or `keyring`",
    {
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPassword, E> {
            Ok(RawPassword::Literal(v.to_owned()))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPassword, A::Error> {
            RawPasswordTable::deserialize(MapAccessDeserializer::new(map)).map(RawPassword::Table)
        }
    }
);

visitor!(RawVerify, "true, false or the path of a PEM CA bundle", {
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawVerify, E> {
        Ok(RawVerify::Bool(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawVerify, E> {
        Ok(RawVerify::CaBundle(v.to_owned()))
    }
});

visitor!(
    RawDate,
    "a date: \"2024-01-31\", \"2024-01-31T08:00:00Z\", \"-30d\" or \"+365d\"",
    {
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDate, E> {
            Ok(RawDate(v.to_owned()))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDate, A::Error> {
            toml::value::Datetime::deserialize(MapAccessDeserializer::new(map))
                .map(|d| RawDate(d.to_string()))
        }
    }
);

visitor!(RawSeconds, "a number of seconds", {
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawSeconds, E> {
        Ok(RawSeconds(v as f64))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawSeconds, E> {
        Ok(RawSeconds(v as f64))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawSeconds, E> {
        Ok(RawSeconds(v))
    }
});

visitor!(
    RawCollection,
    "\"from a\", \"from b\", a collection name or [\"name\", \"name_on_a\", \"name_on_b\"]",
    {
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawCollection, E> {
            Ok(RawCollection::Name(v.to_owned()))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawCollection, A::Error> {
            let names = Vec::<String>::deserialize(SeqAccessDeserializer::new(seq))?;
            if names.len() != 3 {
                return Err(A::Error::custom(format!(
                "a mapped collection is a list of three names [\"name\", \"name_on_a\", \"name_on_b\"], this one has {}",
                names.len()
            )));
            }
            Ok(RawCollection::Mapped(names))
        }
    }
);

visitor!(
    RawStrategy,
    "\"a wins\", \"b wins\", \"newer wins\", \"keep both\" or { command = [...] }",
    {
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawStrategy, E> {
            Ok(RawStrategy::Name(v.to_owned()))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawStrategy, A::Error> {
            RawCommandStrategy::deserialize(MapAccessDeserializer::new(map))
                .map(RawStrategy::Command)
        }
    }
);

visitor!(RawConflict, "a strategy (\"a wins\", \"b wins\", \"newer wins\", \"keep both\", { command = [...] }) or a list of them", {
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawConflict, E> {
        Ok(RawConflict::One(RawStrategy::Name(v.to_owned())))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawConflict, A::Error> {
        RawCommandStrategy::deserialize(MapAccessDeserializer::new(map))
            .map(|c| RawConflict::One(RawStrategy::Command(c)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<RawConflict, A::Error> {
        Vec::<RawStrategy>::deserialize(SeqAccessDeserializer::new(seq)).map(RawConflict::List)
    }
});

/// The storage types and the keys each accepts besides `type` and `read_only`.
pub const STORAGE_TYPES: &[(&str, &[&str])] = &[
    ("vdir", &["path", "fileext", "post_hook"]),
    ("filesystem", &["path", "fileext", "post_hook"]),
    ("singlefile", &["path"]),
    ("caldav", &DAV_KEYS_CALDAV),
    ("carddav", &DAV_KEYS_CARDDAV),
    ("http", &DAV_KEYS),
];

const DAV_KEYS: [&str; 8] = [
    "url",
    "username",
    "password",
    "auth",
    "verify",
    "verify_fingerprint",
    "client_cert",
    "timeout",
];

const DAV_KEYS_CARDDAV: [&str; 10] = [
    "url",
    "username",
    "password",
    "auth",
    "verify",
    "verify_fingerprint",
    "client_cert",
    "timeout",
    "max_connections",
    "batch_size",
];

const DAV_KEYS_CALDAV: [&str; 13] = [
    "url",
    "username",
    "password",
    "auth",
    "verify",
    "verify_fingerprint",
    "client_cert",
    "timeout",
    "max_connections",
    "batch_size",
    "start_date",
    "end_date",
    "item_types",
];

impl RawStorage {
    /// Where `key` is written inside the storage's table (`table` is its span), for values
    /// that toml cannot span; the whole table when not found.
    pub fn key_span(
        source: &super::Source,
        table: std::ops::Range<usize>,
        key: &str,
    ) -> std::ops::Range<usize> {
        let text = source.text.get(table.clone()).unwrap_or("");
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix(key) {
                if rest.trim_start().starts_with(['=', '.']) {
                    let start = table.start + offset + (line.len() - trimmed.len());
                    return start..start + key.len();
                }
            }
            offset += line.len();
        }
        table
    }

    /// Every key that is set, with the span of its value.
    pub fn present_keys(
        &self,
        source: &super::Source,
        table: std::ops::Range<usize>,
    ) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        if self.password.is_some() {
            out.push(("password", Self::key_span(source, table, "password")));
        }
        macro_rules! key {
            ($($f:ident),*) => {$(
                if let Some(v) = &self.$f {
                    out.push((stringify!($f), v.span()));
                }
            )*};
        }
        key!(
            path,
            fileext,
            post_hook,
            url,
            username,
            auth,
            verify,
            verify_fingerprint,
            client_cert,
            start_date,
            end_date,
            item_types,
            read_only,
            timeout,
            max_connections,
            batch_size
        );
        out
    }
}
