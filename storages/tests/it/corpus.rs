//! The real-world corpus (tests/data/corpus, see its README): every file that is well formed
//! splits into the items the manifest counts, survives join/split and re-parsing unchanged,
//! and no file whatsoever makes the parser panic.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use davsync_storages::item::{join, split, Item, ItemKind};

struct Row {
    file: String,
    kind: ItemKind,
    items: usize,
    well_formed: String,
    features: Vec<String>,
}

impl Row {
    fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus")
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(corpus_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let rows: Vec<Row> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Row {
                file: cols[0].to_owned(),
                kind: match cols[4] {
                    "ics" => ItemKind::Calendar,
                    "vcf" => ItemKind::Contacts,
                    other => panic!("unknown kind {other} in MANIFEST.tsv"),
                },
                items: cols[5].parse().expect("items column"),
                well_formed: cols[6].to_owned(),
                features: cols[7].split(',').map(str::to_owned).collect(),
            }
        })
        .collect();
    assert!(rows.len() > 200, "the corpus manifest lost rows");
    rows
}

fn read(row: &Row) -> Vec<u8> {
    std::fs::read(corpus_dir().join(&row.file)).unwrap_or_else(|e| panic!("{}: {e}", row.file))
}

/// Files the parser must take: `yes`, and `unknown` (blank lines, a BOM, a legacy charset in
/// vCard 3.0: what every real parser tolerates).
fn acceptable(row: &Row) -> bool {
    row.well_formed == "yes" || row.well_formed == "unknown"
}

fn summary(items: &[Item]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = items
        .iter()
        .map(|i| (i.ident().to_owned(), i.hash().to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn well_formed_files_split_into_the_items_the_manifest_counts() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in manifest().iter().filter(|r| acceptable(r)) {
        let bytes = read(row);
        let items = match split(row.kind, &bytes) {
            Ok(items) => items,
            Err(e) => {
                failures.push(format!("{}: {e}", row.file));
                continue;
            }
        };
        let count = match row.kind {
            ItemKind::Contacts => items.len(),
            // The manifest counts distinct UIDs of VEVENT/VTODO/VJOURNAL/VFREEBUSY only.
            ItemKind::Calendar => {
                if row.has("custom-component") || row.has("vavailability") {
                    continue;
                }
                items
                    .iter()
                    .filter_map(|i| i.uid())
                    .collect::<HashSet<_>>()
                    .len()
            }
        };
        checked += 1;
        if count != row.items {
            failures.push(format!(
                "{}: {count} items, the manifest says {}",
                row.file, row.items
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 150, "only {checked} files checked");
}

#[test]
fn a_file_holding_one_item_splits_into_exactly_its_bytes() {
    let mut checked = 0;
    for row in manifest().iter().filter(|r| acceptable(r)) {
        let bytes = read(row);
        let items = split(row.kind, &bytes).unwrap_or_else(|e| panic!("{}: {e}", row.file));
        if items.len() == 1 {
            checked += 1;
            assert!(items[0].raw() == bytes, "{}: bytes changed", row.file);
            let again = Item::parse(row.kind, bytes.clone())
                .unwrap_or_else(|e| panic!("{}: parse: {e}", row.file));
            assert_eq!(again.hash(), items[0].hash(), "{}", row.file);
        }
    }
    assert!(checked > 100, "only {checked} single-item files");
}

#[test]
fn every_item_reparses_to_itself() {
    for row in manifest().iter().filter(|r| acceptable(r)) {
        let bytes = read(row);
        for item in split(row.kind, &bytes).unwrap_or_else(|e| panic!("{}: {e}", row.file)) {
            let again = Item::parse(row.kind, item.raw().to_vec())
                .unwrap_or_else(|e| panic!("{}: item {}: {e}", row.file, item.ident()));
            assert_eq!(again.ident(), item.ident(), "{}", row.file);
            assert_eq!(again.hash(), item.hash(), "{}", row.file);
            assert_eq!(again.raw(), item.raw(), "{}", row.file);
            assert_eq!(again.last_modified(), item.last_modified(), "{}", row.file);
        }
    }
}

#[test]
fn joined_items_split_back_into_the_same_items() {
    let mut checked = 0;
    for row in manifest().iter().filter(|r| acceptable(r)) {
        let bytes = read(row);
        let items = split(row.kind, &bytes).unwrap_or_else(|e| panic!("{}: {e}", row.file));
        if items.is_empty() {
            continue;
        }
        let joined = join(row.kind, &items);
        let again = split(row.kind, &joined)
            .unwrap_or_else(|e| panic!("{}: joined file does not split: {e}", row.file));
        assert_eq!(summary(&again), summary(&items), "{}", row.file);
        // Components travel verbatim: every line of every item is in the joined file (the
        // calendar-level lines of a second VCALENDAR give way to the first one's).
        let joined_lines: HashSet<&[u8]> = physical_lines(&joined).collect();
        for item in items.iter().filter(|_| !row.has("multi-vcalendar")) {
            for line in physical_lines(item.raw()) {
                assert!(
                    joined_lines.contains(line),
                    "{}: line {:?} of item {} is not in the joined file",
                    row.file,
                    String::from_utf8_lossy(line),
                    item.ident()
                );
            }
        }
        checked += 1;
    }
    assert!(checked > 150, "only {checked} files joined");
}

fn physical_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n' || b == b'\r')
        .filter(|l| !l.is_empty())
}

#[test]
fn malformed_files_give_a_line_numbered_error_or_items_never_a_panic() {
    let mut errors = 0;
    for row in manifest() {
        let bytes = read(&row);
        let physical_lines = bytes.split(|&b| b == b'\n' || b == b'\r').count() + 1;
        let result = std::panic::catch_unwind(|| split(row.kind, &bytes));
        let result = result.unwrap_or_else(|_| panic!("{}: split panicked", row.file));
        match result {
            Ok(items) => {
                for item in items {
                    let reparsed =
                        std::panic::catch_unwind(|| Item::parse(row.kind, item.raw().to_vec()));
                    assert!(reparsed.is_ok(), "{}: parse panicked", row.file);
                }
            }
            Err(e) => {
                errors += 1;
                assert!(
                    !acceptable(&row),
                    "{}: a well-formed file failed: {e}",
                    row.file
                );
                assert!(
                    e.line >= 1 && e.line <= physical_lines,
                    "{}: error names line {} of {physical_lines}: {e}",
                    row.file,
                    e.line
                );
                assert!(!e.message.is_empty(), "{}", row.file);
            }
        }
        let parsed = std::panic::catch_unwind(|| Item::parse(row.kind, bytes.clone()));
        assert!(parsed.is_ok(), "{}: Item::parse panicked", row.file);
    }
    assert!(errors > 10, "only {errors} malformed files were refused");
}

/// What an independent parser (the `icalendar` crate) sees in a calendar: the UIDs of the
/// components other than VTIMEZONE (in order), the TZIDs defined, and per component the TZIDs
/// its properties (and those of its sub-components) refer to.
struct Seen {
    uids: Vec<Option<String>>,
    zones: HashSet<String>,
    references: Vec<String>,
}

fn icalendar_view(text: &str) -> Option<Seen> {
    use icalendar::parser::{read_components, unfold, Component};
    fn refs(c: &Component<'_>, out: &mut Vec<String>) {
        for p in &c.properties {
            for param in &p.params {
                if param.key.as_str().eq_ignore_ascii_case("TZID") {
                    if let Some(v) = &param.val {
                        out.push(v.as_str().trim_matches('"').to_owned());
                    }
                }
            }
        }
        for sub in &c.components {
            refs(sub, out);
        }
    }
    let unfolded = unfold(text);
    let top = read_components(&unfolded).ok()?;
    let mut seen = Seen {
        uids: Vec::new(),
        zones: HashSet::new(),
        references: Vec::new(),
    };
    for cal in top.iter().filter(|c| c.name.as_str() == "VCALENDAR") {
        for c in &cal.components {
            if c.name.as_str() == "VTIMEZONE" {
                if let Some(id) = c.find_prop("TZID") {
                    seen.zones.insert(id.val.as_str().replace("\\,", ","));
                }
            } else {
                seen.uids
                    .push(c.find_prop("UID").map(|u| u.val.as_str().trim().to_owned()));
                refs(c, &mut seen.references);
            }
        }
    }
    Some(seen)
}

/// The `icalendar` crate cannot keep bytes, so davsync does not use it to parse; here it is an
/// independent check that splitting loses no component and carries the timezones each item
/// refers to.
#[test]
fn split_agrees_with_an_independent_parser() {
    let mut compared = 0;
    for row in manifest()
        .iter()
        .filter(|r| acceptable(r) && r.kind == ItemKind::Calendar)
    {
        let bytes = read(row);
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        // It only understands CRLF or LF files that are nothing but VCALENDARs.
        if text.contains("\r\r") || text.replace("\r\n", "\n").contains('\r') {
            continue;
        }
        let Some(whole) = icalendar_view(text) else {
            continue;
        };
        if whole.uids.is_empty() {
            continue;
        }
        let items = split(row.kind, &bytes).unwrap();
        let mut uids = Vec::new();
        for item in &items {
            let text = std::str::from_utf8(item.raw()).unwrap();
            let seen = icalendar_view(text)
                .unwrap_or_else(|| panic!("{}: item {} does not parse", row.file, item.ident()));
            for r in &seen.references {
                assert!(
                    !whole.zones.contains(r) || seen.zones.contains(r),
                    "{}: item {} refers to TZID {r} but does not carry it",
                    row.file,
                    item.ident()
                );
            }
            uids.extend(seen.uids);
        }
        let mut expected = whole.uids.clone();
        expected.sort();
        uids.sort();
        assert_eq!(
            uids, expected,
            "{}: components lost or duplicated",
            row.file
        );
        compared += 1;
    }
    assert!(compared > 80, "only {compared} calendars compared");
}
