//! One `[pair.NAME]` table: its two storages, `collections`, `conflict_resolution`,
//! `partial_sync` and `metadata`.

use std::collections::BTreeSet;

use davsync_storages::MetaKey;
use toml::Spanned;

use super::{Ctx, PairConfig};
use crate::config::raw::{RawCollection, RawConflict, RawPair, RawStrategy};
use crate::sync::{CollectionSpec, PartialSync, Strategy};

pub(super) fn pair(
    cx: &mut Ctx,
    name: &Spanned<String>,
    p: &RawPair,
    known: &[&str],
) -> Option<PairConfig> {
    let pname = name.get_ref();
    let key = |k: &str| format!("pair.{pname}.{k}");
    let before = cx.problems.len();
    if pname.is_empty() || pname.contains('/') {
        cx.err(
            name.span(),
            format!("pair name {pname:?} must be non-empty and must not contain '/'"),
        );
    }
    for (side, v) in [("a", &p.a), ("b", &p.b)] {
        if !known.contains(&v.get_ref().as_str()) {
            cx.err(
                v.span(),
                format!(
                    "{}: no storage named {:?} (configured storages: {})",
                    key(side),
                    v.get_ref(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    if p.a.get_ref() == p.b.get_ref() {
        cx.err(
            p.b.span(),
            format!("{}: a pair needs two different storages", key("b")),
        );
    }

    let collections = p.collections.as_ref().map(|list| {
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        if list.get_ref().is_empty() {
            cx.err(
                list.span(),
                format!(
                    "{}: empty list; omit `collections` to sync the storages' path/url as one collection",
                    key("collections")
                ),
            );
        }
        for el in list.get_ref() {
            match collection_spec(el.get_ref()) {
                Ok(spec) => {
                    let n = match &spec {
                        CollectionSpec::FromA => "from a".to_owned(),
                        CollectionSpec::FromB => "from b".to_owned(),
                        CollectionSpec::Named(n) => n.clone(),
                        CollectionSpec::Mapped { name, .. } => name.clone(),
                    };
                    if !names.insert(n.clone()) {
                        cx.err(el.span(), format!("{}: {n:?} is listed twice", key("collections")));
                    }
                    out.push(spec);
                }
                Err(msg) => cx.err(el.span(), format!("{}: {msg}", key("collections"))),
            }
        }
        out
    });

    let conflict_resolution = match &p.conflict_resolution {
        None => Vec::new(),
        Some(v) => {
            let items: Vec<&RawStrategy> = match v.get_ref() {
                RawConflict::List(a) => a.iter().collect(),
                RawConflict::One(one) => vec![one],
            };
            let mut out = Vec::new();
            for it in items {
                match strategy(it) {
                    Ok(s) => out.push(s),
                    Err(msg) => cx.err(v.span(), format!("{}: {msg}", key("conflict_resolution"))),
                }
            }
            out
        }
    };

    let partial_sync = match p.partial_sync.as_ref() {
        None => PartialSync::default(),
        Some(v) => match PartialSync::from_name(v.get_ref()) {
            Some(p) => p,
            None => {
                let other = v.get_ref();
                cx.err(
                    v.span(),
                    format!(
                        "{}: unknown value {other:?} (expected \"revert\", \"error\" or \"ignore\")",
                        key("partial_sync")
                    ),
                );
                PartialSync::default()
            }
        },
    };

    let mut metadata = Vec::new();
    for m in p.metadata.iter().flat_map(|m| m.get_ref()) {
        match MetaKey::parse(m.get_ref()) {
            Some(k) if !metadata.contains(&k) => metadata.push(k),
            Some(_) => {}
            None => cx.err(
                m.span(),
                format!(
                    "{}: unknown property {:?} (expected {})",
                    key("metadata"),
                    m.get_ref(),
                    MetaKey::ALL
                        .iter()
                        .map(|k| format!("\"{}\"", k.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }

    if cx.problems.len() > before {
        return None;
    }
    Some(PairConfig {
        name: pname.clone(),
        a: p.a.get_ref().clone(),
        b: p.b.get_ref().clone(),
        collections,
        conflict_resolution,
        partial_sync,
        metadata,
    })
}

fn collection_name(n: &str) -> Result<String, String> {
    if n.is_empty() || n.contains('/') || n.starts_with('.') || n.contains('\\') {
        Err(format!(
            "collection name {n:?} must be non-empty, must not contain '/' or '\\' and must not begin with '.'"
        ))
    } else {
        Ok(n.to_owned())
    }
}

fn collection_spec(v: &RawCollection) -> Result<CollectionSpec, String> {
    match v {
        RawCollection::Name(s) if s == "from a" => Ok(CollectionSpec::FromA),
        RawCollection::Name(s) if s == "from b" => Ok(CollectionSpec::FromB),
        RawCollection::Name(s) => Ok(CollectionSpec::Named(collection_name(s)?)),
        RawCollection::Mapped(names) => match names.as_slice() {
            [name, on_a, on_b] => Ok(CollectionSpec::Mapped {
                name: collection_name(name)?,
                a: collection_name(on_a)?,
                b: collection_name(on_b)?,
            }),
            _ => Err(
                "a mapped collection is a list of three names: [\"name\", \"name_on_a\", \"name_on_b\"]"
                    .into(),
            ),
        },
    }
}

fn strategy(v: &RawStrategy) -> Result<Strategy, String> {
    match v {
        RawStrategy::Name(s) => Strategy::from_name(s).ok_or_else(|| {
            let names: Vec<String> = Strategy::NAMES
                .iter()
                .map(|(n, _)| format!("{n:?}"))
                .collect();
            format!(
                "unknown strategy {s:?} (expected {} or {{ command = [...] }})",
                names.join(", ")
            )
        }),
        RawStrategy::Command(c) => {
            if c.command.is_empty() {
                Err("command must name a program".into())
            } else {
                Ok(Strategy::Command(c.command.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::tests::parse;

    #[test]
    fn strategies_and_collections_resolve_in_order() {
        let c = parse(
            "[storage.a]\ntype = \"vdir\"\npath = \"a\"\nfileext = \".ics\"\n\
             [storage.b]\ntype = \"vdir\"\npath = \"b\"\nfileext = \".ics\"\n\
             [pair.p]\na = \"a\"\nb = \"b\"\n\
             collections = [\"from b\", \"work\", [\"home\", \"h\", \"Home\"]]\n\
             conflict_resolution = [\"newer wins\", { command = [\"meld\"] }, \"keep both\"]\n",
        )
        .unwrap();
        let p = &c.pairs["p"];
        assert_eq!(
            p.collections.as_deref().unwrap(),
            [
                CollectionSpec::FromB,
                CollectionSpec::Named("work".into()),
                CollectionSpec::Mapped {
                    name: "home".into(),
                    a: "h".into(),
                    b: "Home".into()
                }
            ]
        );
        assert_eq!(
            p.conflict_resolution,
            [
                Strategy::NewerWins,
                Strategy::Command(vec!["meld".into()]),
                Strategy::KeepBoth
            ]
        );
    }
}
