//! What depends on a pair and its storages together, checked once every table on its own is
//! valid: the kind of items a local storage holds when its file extension does not say, and
//! `collections` against storages that have none (http) or need `%s` (singlefile).

use std::collections::{BTreeMap, BTreeSet};

use davsync_storages::ItemKind;

use super::{Ctx, StorageConfig, StorageParams, StorageType};
use crate::config::raw::RawConfig;

fn kind_name(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Calendar => "calendars",
        ItemKind::Contacts => "contacts",
    }
}

/// Gives local storages the kind of the storage they are paired with, and refuses pairs
/// whose two sides hold different kinds.
pub(super) fn infer_kinds(
    cx: &mut Ctx,
    raw: &RawConfig,
    storages: &mut BTreeMap<String, StorageConfig>,
) {
    // Two rounds so a chain vdir - vdir - caldav settles.
    for _ in 0..2 {
        for p in raw.pair.values() {
            let p = p.get_ref();
            let (a, b) = (p.a.get_ref(), p.b.get_ref());
            let ka = storages.get(a).and_then(|s| s.kind);
            let kb = storages.get(b).and_then(|s| s.kind);
            match (ka, kb) {
                (Some(x), None) => storages.get_mut(b).expect("checked").kind = Some(x),
                (None, Some(x)) => storages.get_mut(a).expect("checked").kind = Some(x),
                _ => {}
            }
        }
    }
    for (pname, p) in &raw.pair {
        let p = p.get_ref();
        let sa = &storages[p.a.get_ref()];
        let sb = &storages[p.b.get_ref()];
        if let (Some(ka), Some(kb)) = (sa.kind, sb.kind) {
            if ka != kb {
                cx.err(
                    p.b.span(),
                    format!(
                        "pair.{}: storage {:?} ({}) holds {} but storage {:?} ({}) holds {}",
                        pname.get_ref(),
                        sa.name,
                        sa.ty.as_str(),
                        kind_name(ka),
                        sb.name,
                        sb.ty.as_str(),
                        kind_name(kb)
                    ),
                );
            }
        }
    }
    let used: BTreeSet<&str> = raw
        .pair
        .values()
        .flat_map(|p| {
            [
                p.get_ref().a.get_ref().as_str(),
                p.get_ref().b.get_ref().as_str(),
            ]
        })
        .collect();
    for (name, raw_st) in &raw.storage {
        let st = storages.get_mut(name.get_ref()).expect("resolved");
        if st.kind.is_none() && used.contains(name.get_ref().as_str()) {
            let what = match st.params {
                StorageParams::SingleFile { .. } => "give `path` the extension .ics or .vcf",
                _ => "set `fileext` to \".ics\" or \".vcf\"",
            };
            cx.err(
                name.span(),
                format!(
                    "storage.{}: cannot tell whether it holds calendars or contacts: {what}",
                    name.get_ref()
                ),
            );
        }
        if let (StorageParams::Vdir { fileext, .. }, Some(kind)) = (&mut st.params, st.kind) {
            if fileext.is_empty() && raw_st.get_ref().fileext.is_none() {
                *fileext = match kind {
                    ItemKind::Calendar => ".ics".into(),
                    ItemKind::Contacts => ".vcf".into(),
                };
            }
        }
    }
}

/// Checks what depends on both the pair and its storages: `collections` against storages
/// that have none (http) or need `%s` (singlefile).
pub(super) fn check_pair_shapes(
    cx: &mut Ctx,
    raw: &RawConfig,
    storages: &BTreeMap<String, StorageConfig>,
) {
    for (pname, p) in &raw.pair {
        let p = p.get_ref();
        let with_collections = p.collections.is_some();
        for side in [&p.a, &p.b] {
            let st = &storages[side.get_ref()];
            match (&st.params, st.ty) {
                (_, StorageType::Http) if with_collections => cx.err(
                    p.collections.as_ref().map(|c| c.span()).unwrap_or_default(),
                    format!(
                        "pair.{}.collections: storage {:?} is an http feed, which is one collection; omit `collections`",
                        pname.get_ref(),
                        st.name
                    ),
                ),
                (StorageParams::SingleFile { path }, _) => {
                    let has = path.to_string_lossy().contains("%s");
                    if with_collections && !has {
                        cx.err(
                            side.span(),
                            format!(
                                "pair.{}: storage {:?} is used with `collections`, so its path must contain %s (the collection name)",
                                pname.get_ref(),
                                st.name
                            ),
                        );
                    } else if !with_collections && has {
                        cx.err(
                            side.span(),
                            format!(
                                "pair.{}: storage {:?} has %s in its path, which needs `collections` in the pair",
                                pname.get_ref(),
                                st.name
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::resolve::tests::parse;

    #[test]
    fn vdir_takes_the_kind_and_fileext_of_its_partner() {
        let c = parse(
            "[storage.l]\ntype = \"vdir\"\npath = \"contacts\"\n\
             [storage.r]\ntype = \"carddav\"\nurl = \"https://x.example/\"\n\
             [pair.p]\na = \"l\"\nb = \"r\"\n",
        )
        .unwrap();
        let l = &c.storages["l"];
        assert_eq!(l.kind, Some(ItemKind::Contacts));
        match &l.params {
            StorageParams::Vdir { path, fileext, .. } => {
                assert_eq!(fileext, ".vcf");
                assert_eq!(path, Path::new("/contacts"));
            }
            other => panic!("{other:?}"),
        }
    }
}
