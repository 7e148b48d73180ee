//! One `[storage.NAME]` table: its type, the keys that type allows, and the local
//! storages' paths and file extensions. The network storages' keys are in [`super::dav`].

use std::ops::Range;

use davsync_storages::ItemKind;
use toml::Spanned;

use super::dav::dav;
use super::{Ctx, StorageConfig, StorageParams, StorageType};
use crate::config::interval;
use crate::config::raw::{self, RawStorage};

pub(super) fn storage(
    cx: &mut Ctx,
    name: &Spanned<String>,
    st: &RawStorage,
    table: Range<usize>,
) -> Option<StorageConfig> {
    let sname = name.get_ref();
    let key = |k: &str| format!("storage.{sname}.{k}");
    if sname.is_empty() || sname.contains('/') {
        cx.err(
            name.span(),
            format!("storage name {sname:?} must be non-empty and must not contain '/'"),
        );
    }
    let Some(ty) = StorageType::parse(st.kind.get_ref()) else {
        cx.err(
            st.kind.span(),
            format!(
                "{}: unknown storage type {:?} (expected one of: {})",
                key("type"),
                st.kind.get_ref(),
                raw::STORAGE_TYPES
                    .iter()
                    .map(|(t, _)| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    };
    let allowed = raw::STORAGE_TYPES
        .iter()
        .find(|(t, _)| *t == ty.as_str())
        .map(|(_, keys)| *keys)
        .unwrap_or(&[]);
    let before = cx.problems.len();
    for (k, span) in st.present_keys(cx.source, table.clone()) {
        if k != "read_only" && k != "interval" && !allowed.contains(&k) {
            cx.err(
                span,
                format!(
                    "{}: key `{k}` is not valid for a storage of type \"{}\" (valid keys: type, {}, read_only, interval)",
                    key(k),
                    ty.as_str(),
                    allowed.join(", ")
                ),
            );
        }
    }
    if cx.problems.len() > before {
        return None;
    }
    let read_only = st.read_only.as_ref().map(|r| *r.get_ref());
    if ty == StorageType::Http && read_only == Some(false) {
        let span = st.read_only.as_ref().map(|r| r.span()).unwrap_or_default();
        cx.err(
            span,
            format!("{}: an http storage is always read-only", key("read_only")),
        );
    }
    let read_only = read_only.unwrap_or(false);
    let interval = match interval::resolve(st.interval.as_ref(), &key("interval")) {
        Ok(d) => d,
        Err((span, message)) => {
            cx.err(span, message);
            interval::DEFAULT
        }
    };

    let (kind, params) = match ty {
        StorageType::Vdir | StorageType::Filesystem => {
            let raw_path = required(cx, st.path.as_ref(), name, &key("path"))?;
            let path = cx.path(&key("path"), raw_path)?;
            cx.parent_must_exist(&key("path"), raw_path, &path);
            let fileext = st.fileext.as_ref().map(|f| f.get_ref().clone());
            let kind = fileext.as_deref().and_then(kind_of_ext);
            if let Some(f) = &st.fileext {
                if f.get_ref().contains('/') {
                    cx.err(
                        f.span(),
                        format!("{}: must not contain '/'", key("fileext")),
                    );
                }
            }
            let post_hook = st.post_hook.as_ref().map(|h| h.get_ref().clone());
            if let (Some(h), Some(span)) = (&post_hook, st.post_hook.as_ref().map(|h| h.span())) {
                if h.is_empty() {
                    cx.err(
                        span,
                        format!(
                            "{}: must name a program (e.g. [\"notify-send\", \"updated\"])",
                            key("post_hook")
                        ),
                    );
                }
            }
            (
                kind,
                StorageParams::Vdir {
                    path,
                    // Empty until inferred from the kind (see infer_kinds).
                    fileext: fileext.unwrap_or_default(),
                    post_hook,
                },
            )
        }
        StorageType::SingleFile => {
            let raw_path = required(cx, st.path.as_ref(), name, &key("path"))?;
            let path = cx.path(&key("path"), raw_path)?;
            cx.parent_must_exist(&key("path"), raw_path, &path);
            let kind = path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(|e| kind_of_ext(&format!(".{e}")));
            (kind, StorageParams::SingleFile { path })
        }
        StorageType::CalDav | StorageType::CardDav | StorageType::Http => {
            let kind = if ty == StorageType::CardDav {
                ItemKind::Contacts
            } else {
                ItemKind::Calendar
            };
            let params = dav(cx, name, st, ty, table)?;
            (Some(kind), StorageParams::Dav(params))
        }
    };
    Some(StorageConfig {
        name: sname.clone(),
        ty,
        kind,
        read_only,
        interval,
        params,
    })
}

pub(super) fn required<'v>(
    cx: &mut Ctx,
    v: Option<&'v Spanned<String>>,
    table: &Spanned<String>,
    key: &str,
) -> Option<&'v Spanned<String>> {
    if v.is_none() {
        cx.err(
            table.span(),
            format!("{key}: missing (required for this storage type)"),
        );
    }
    v
}

fn kind_of_ext(ext: &str) -> Option<ItemKind> {
    match ext.to_ascii_lowercase().as_str() {
        ".ics" | ".ical" | ".ifb" => Some(ItemKind::Calendar),
        ".vcf" | ".vcard" => Some(ItemKind::Contacts),
        _ => None,
    }
}
