//! The properties the fuzz targets check, shared by the cargo-fuzz targets
//! (`tests/fuzz/fuzz_targets/`, nightly) and by `tests/it/fuzz_corpus.rs`, which runs them over
//! the seed corpus and every regression input on stable. Each check panics on a violated
//! property; a clean error for bad input is fine, a panic inside davsync is not.

// Each fuzz target uses one check of this file.
#![allow(dead_code)]

use davsync_storages::dav::proto::multistatus::{parse_multistatus, MultistatusStream};
use davsync_storages::dav::proto::report::{parse_items, ItemsStream};
use davsync_storages::item::{join, merge as merge3, split, MergePass};
use davsync_storages::{Item, ItemKind};

/// The calendar splitter/normalizer for even first bytes, the vCard one for odd (the byte is
/// part of the input, so the fuzzer explores both).
pub fn items(data: &[u8]) {
    let Some((&selector, raw)) = data.split_first() else {
        return;
    };
    let kind = if selector % 2 == 0 {
        ItemKind::Calendar
    } else {
        ItemKind::Contacts
    };
    item_laws(kind, raw);
}

/// For any input: splitting never panics; when it succeeds, every item re-parses from its own
/// bytes to the same identity and hash (the hash is a function of the bytes), hashes are
/// stable under a join/split round trip, and a second round trip changes nothing (normalizing
/// twice equals once).
pub fn item_laws(kind: ItemKind, raw: &[u8]) {
    if let Ok(one) = Item::parse(kind, raw.to_vec()) {
        assert_eq!(one.hash().as_str().len(), 64, "hash is hex SHA-256");
        let again = Item::parse(kind, one.raw().to_vec()).expect("an item's own bytes parse");
        assert_eq!(again.hash(), one.hash(), "hash of the same bytes");
        assert_eq!(again.ident(), one.ident());
    }
    let Ok(items) = split(kind, raw) else {
        return;
    };
    for item in &items {
        let again = Item::parse(kind, item.raw().to_vec())
            .unwrap_or_else(|e| panic!("a split item does not parse alone: {e}"));
        assert_eq!(
            again.hash(),
            item.hash(),
            "hash of {} re-parsed",
            item.ident()
        );
        assert_eq!(again.ident(), item.ident());
    }
    if items.is_empty() {
        return;
    }
    let joined = join(kind, &items);
    let round =
        split(kind, &joined).unwrap_or_else(|e| panic!("joined items do not split again: {e}"));
    assert_eq!(
        summary(&round),
        summary(&items),
        "identities and hashes survive join + split"
    );
    let joined_again = join(kind, &round);
    assert_eq!(
        joined_again, joined,
        "a second join of the same items gives the same bytes"
    );
}

/// (ident, hash) of each item, sorted: order across a join may change, content may not.
fn summary(items: &[Item]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = items
        .iter()
        .map(|i| (i.ident().to_owned(), i.hash().to_string()))
        .collect();
    v.sort();
    v
}

/// Up to four cut points drawn from the first bytes of the input; the rest is the body.
fn cuts_and_body(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let n = data.first().map_or(0, |b| usize::from(b % 5));
    let head = n * 2 + 1;
    if data.len() < head {
        return (Vec::new(), data);
    }
    let body = &data[head..];
    let mut cuts: Vec<usize> = data[1..head]
        .chunks(2)
        .map(|c| {
            let v = usize::from(u16::from_le_bytes([c[0], c[1]]));
            if body.is_empty() {
                0
            } else {
                v % (body.len() + 1)
            }
        })
        .collect();
    cuts.sort();
    (cuts, body)
}

/// The multistatus readers: the whole body and the same body streamed in the cuts drawn
/// from the input give the same responses, or both fail.
pub fn multistatus(data: &[u8]) {
    let (cuts, body) = cuts_and_body(data);
    multistatus_laws(body, &cuts);
}

pub fn multistatus_laws(body: &[u8], cuts: &[usize]) {
    let base = url::Url::parse("https://dav.example.com/cal/").unwrap();
    let mut whole = Vec::new();
    let whole_info = parse_multistatus(body, &base, |r| whole.push(format!("{r:?}")));
    let mut streamed = Vec::new();
    let streamed_info = (|| {
        let mut s = MultistatusStream::new(base.clone());
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
            s.feed(&body[at..cut], |r| streamed.push(format!("{r:?}")))?;
            at = cut;
        }
        s.finish(|r| streamed.push(format!("{r:?}")))
    })();
    match (&whole_info, &streamed_info) {
        (Ok(w), Ok(s)) => {
            assert_eq!(w, s, "info, whole vs streamed at {cuts:?}");
            assert_eq!(whole, streamed, "responses, whole vs streamed at {cuts:?}");
        }
        (Err(_), Err(_)) => {}
        (w, s) => panic!("whole body: {w:?}; streamed at {cuts:?}: {s:?}"),
    }

    let mut whole = Vec::new();
    let whole_info = parse_items(ItemKind::Calendar, body, &base, |i| {
        whole.push(format!("{i:?}"))
    });
    let mut streamed = Vec::new();
    let streamed_info = (|| {
        let mut s = ItemsStream::new(ItemKind::Calendar, base.clone());
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
            s.feed(&body[at..cut], |i| streamed.push(format!("{i:?}")))?;
            at = cut;
        }
        s.finish(|i| streamed.push(format!("{i:?}")))
    })();
    match (&whole_info, &streamed_info) {
        (Ok(w), Ok(s)) => {
            assert_eq!(w, s, "items info, whole vs streamed at {cuts:?}");
            assert_eq!(whole, streamed, "items, whole vs streamed at {cuts:?}");
        }
        (Err(_), Err(_)) => {}
        (w, s) => panic!("items, whole body: {w:?}; streamed at {cuts:?}: {s:?}"),
    }
}

/// The config parser: any text gives a config or errors, and every error renders (with its
/// file:line:col and caret) without panicking. Parsing is deterministic.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/fuzz/config.toml");
    match davsync::config::parse(path, text.to_owned()) {
        Ok(_) => {
            assert!(
                davsync::config::parse(path, text.to_owned()).is_ok(),
                "the same text parsed twice"
            );
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.is_empty());
            let Err(again) = davsync::config::parse(path, text.to_owned()) else {
                panic!("the same text parsed twice, now without error")
            };
            assert_eq!(again.to_string(), shown);
        }
    }
}

/// The three-way merge: the first byte chooses the kind (even: iCalendar, odd: vCard), the
/// rest is the base, a and b, separated by NUL bytes.
pub fn merge(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let kind = if selector % 2 == 0 {
        ItemKind::Calendar
    } else {
        ItemKind::Contacts
    };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let (Some(base), Some(a), Some(b)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    merge_laws(kind, base, a, b);
}

/// The laws of the merge on any three versions (those of its proptests, on bytes nobody
/// generated): it never panics; a result parses again to the same hash and merging it with
/// itself gives it back; a version merged with itself is that version, byte for byte; a side
/// that kept the base gives the other side's content; both orders of the sides agree (the
/// same result, or the same conflict).
pub fn merge_laws(kind: ItemKind, base: &[u8], a: &[u8], b: &[u8]) {
    let (Ok(a), Ok(b)) = (Item::parse(kind, a.to_vec()), Item::parse(kind, b.to_vec())) else {
        return;
    };
    // Passes that say a version cannot be used at all (rather than how a and b relate).
    let unusable = |r: &Result<Item, MergePass>| {
        matches!(
            r,
            Err(MergePass::BadBase(_) | MergePass::Unmatchable { .. })
        )
    };

    let same = merge3(base, &a, &a);
    if !unusable(&same) {
        let m = same.unwrap_or_else(|p| panic!("a version merged with itself passes: {p}"));
        assert_eq!(
            m.raw(),
            a.raw(),
            "a version merged with itself is that version"
        );
    }

    if let Ok(base_item) = Item::parse(kind, base.to_vec()) {
        let kept = merge3(base, &base_item, &b);
        if !unusable(&kept) {
            let m = kept.unwrap_or_else(|p| panic!("a kept base against b passes: {p}"));
            assert_eq!(
                m.hash(),
                b.hash(),
                "a side that kept the base gives b's content"
            );
        }
    }

    let ab = merge3(base, &a, &b);
    if let Ok(m) = &ab {
        let again = Item::parse(kind, m.raw().to_vec())
            .unwrap_or_else(|e| panic!("a merge result does not parse: {e}"));
        assert_eq!(
            again.hash(),
            m.hash(),
            "a merge result re-parses to its hash"
        );
        let twice = merge3(base, m, m).unwrap_or_else(|p| panic!("a result with itself: {p}"));
        assert_eq!(twice.raw(), m.raw(), "a merge result merged with itself");
    }
    let ba = merge3(base, &b, &a);
    match (&ab, &ba) {
        (Ok(x), Ok(y)) => assert_eq!(x.hash(), y.hash(), "a/b and b/a merges agree"),
        // Splicing into the other version's bytes may fail where this one's did not: that
        // pass is a refusal to write, not a different decision.
        (Ok(_), Err(MergePass::Unfaithful(_))) | (Err(MergePass::Unfaithful(_)), Ok(_)) => {}
        (Ok(_), Err(p)) | (Err(p), Ok(_)) => panic!("one order merges, the other passes: {p}"),
        (Err(_), Err(_)) => {}
    }
}

/// vdirsyncer's config format (`import-vdirsyncer`): any text parses or gives an error
/// naming the file and a line that exists, deterministically; a parsed config converts, the
/// conversion is TOML in which every section not reported as left out is a table of the
/// same name, and davsync's own parser reads it or reports an error (never a panic).
pub fn vdirsyncer(data: &[u8]) {
    use davsync::migrate::{convert, ini};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/fuzz/vdirsyncer/config");
    let config = match ini::parse(path, text) {
        Ok(c) => c,
        Err(e) => {
            let lines = text.lines().count().max(1);
            assert!(
                (1..=lines).contains(&e.line),
                "error line {} of {lines}",
                e.line
            );
            assert!(e.to_string().starts_with("/fuzz/vdirsyncer/config:"));
            assert_eq!(ini::parse(path, text).unwrap_err(), e, "parsed twice");
            return;
        }
    };
    let converted = convert::convert(&config);
    for l in &converted.left_out {
        assert!(!l.to_string().is_empty());
    }
    let table: toml::Table = converted
        .toml
        .parse()
        .unwrap_or_else(|e| panic!("the converted config is not TOML: {e}\n{}", converted.toml));
    for section in &config.sections {
        if !matches!(section.kind.as_str(), "storage" | "pair") {
            continue;
        }
        let header = section.header();
        let dropped = converted
            .left_out
            .iter()
            .any(|l| l.section == header && (l.key.is_empty() || l.key == "type"));
        if dropped {
            continue;
        }
        let found = table
            .get(&section.kind)
            .and_then(|t| t.as_table())
            .and_then(|t| t.get(&section.name))
            .is_some_and(toml::Value::is_table);
        assert!(
            found,
            "[{header}] converted but not found as a table of that name:\n{}",
            converted.toml
        );
    }
    let toml_path = std::path::Path::new("/fuzz/config.toml");
    if let Err(e) = davsync::config::parse(toml_path, converted.toml.clone()) {
        assert!(!e.to_string().is_empty());
    }
}
