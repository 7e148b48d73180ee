//! The status seen from the listings: which ident and state the status recorded at a listed
//! href ([`StatusIndex`]), and what a side lists now as the plan reads it ([`SideListing`],
//! [`Listed`]), including a side that reported only its changes. Both are built once per
//! sync that loads the status, over every row, so they hold positions and borrowed views
//! rather than maps of copied keys.

use std::collections::{HashMap, HashSet};

use davsync_storages::{Etag, Href, ItemRef};
use hashbrown::{hash_table, HashTable};

use super::side::{BySide, Side};
use crate::status::{ItemRow, Rows, SideState};

/// The status indexed by href, per side: which ident and state a listed href had.
///
/// A table of row positions hashed by href, not a map from the href to the row: it costs a
/// few bytes per row where a map's bucket held two borrowed strings and a reference, in a
/// table sized for every row of the status, twice.
pub struct StatusIndex<'s> {
    rows: &'s [ItemRow],
    by_href: BySide<HashTable<u32>>,
    hasher: ahash::RandomState,
}

impl<'s> StatusIndex<'s> {
    pub fn new(status: &'s Rows) -> Self {
        let rows = status.values().as_slice();
        let hasher = ahash::RandomState::new();
        let href_at = |side: Side, i: u32| rows[i as usize].side(side).map(|s| s.href.as_str());
        let by_href = BySide::from_fn(|side| {
            let mut table = HashTable::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                let Some(s) = row.side(side) else { continue };
                let at = u32::try_from(i).expect("fewer than 2^32 items in a collection");
                let href = Some(s.href.as_str());
                // Two rows at one href (a transient state): the later one is kept.
                match table.entry(
                    hasher.hash_one(s.href.as_str()),
                    |&j| href_at(side, j) == href,
                    |&j| hasher.hash_one(href_at(side, j).unwrap_or_default()),
                ) {
                    hash_table::Entry::Occupied(mut slot) => *slot.get_mut() = at,
                    hash_table::Entry::Vacant(slot) => {
                        slot.insert(at);
                    }
                }
            }
            table
        });
        StatusIndex {
            rows,
            by_href,
            hasher,
        }
    }

    /// The status row recording `href` on `side`, and its state there.
    fn at(&self, side: Side, href: &Href) -> Option<(&'s ItemRow, &'s SideState)> {
        let rows = self.rows;
        let found = |i: u32| rows[i as usize].side(side).map(|s| (&rows[i as usize], s));
        self.by_href[side]
            .find(self.hasher.hash_one(href.as_str()), |&i| {
                found(i).is_some_and(|(_, s)| s.href == *href)
            })
            .and_then(|&i| found(i))
    }

    /// The ident and state a listed item is known under, when its href and etag are those
    /// the status recorded.
    pub fn known(&self, side: Side, r: Listed<'_>) -> Option<(&'s str, &'s SideState)> {
        self.at(side, r.href)
            .filter(|(_, s)| s.etag == *r.etag)
            .map(|(row, s)| (row.ident.as_str(), s))
    }

    /// The ident the status recorded at this href (whatever its etag now).
    pub fn ident_at(&self, side: Side, href: &Href) -> Option<&'s str> {
        self.at(side, href).map(|(row, _)| row.ident.as_str())
    }
}

/// One listed item as the plan reads it, borrowed from the side's listing or, for what a
/// side reported unchanged since its token, from the status row that recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed<'a> {
    pub href: &'a Href,
    pub etag: &'a Etag,
}

impl<'a> From<&'a ItemRef> for Listed<'a> {
    fn from(r: &'a ItemRef) -> Self {
        Listed {
            href: &r.href,
            etag: &r.etag,
        }
    }
}

/// What a side answered: its whole listing, or what changed since the token the status
/// keeps (the rest is as the status recorded it).
pub enum SideListing {
    Full(Vec<ItemRef>),
    Since {
        changed: Vec<ItemRef>,
        deleted: Vec<Href>,
    },
}

impl SideListing {
    /// The side's full listing, borrowed: for changes since a token, what the status
    /// recorded there, minus what was deleted, plus what changed (with its new etag).
    ///
    /// Borrowed, not rebuilt from copies: a side unchanged since its token, of 20,000
    /// items, is listed from the status on every sync that loads it, and copying each href
    /// and etag cost more than the status rows' own strings.
    pub fn view<'a>(&'a self, side: Side, status: &'a Rows) -> Vec<Listed<'a>> {
        let (changed, deleted) = match self {
            SideListing::Full(l) => return l.iter().map(Listed::from).collect(),
            SideListing::Since { changed, deleted } => (changed, deleted),
        };
        let mut listing = Vec::with_capacity(status.len() + changed.len());
        listing.extend(
            status
                .values()
                .filter_map(|row| row.side(side))
                .map(|s| Listed {
                    href: &s.href,
                    etag: &s.etag,
                }),
        );
        // Two rows at one href (a transient state): the side lists it once.
        listing.sort_unstable_by(|x, y| x.href.cmp(y.href));
        listing.dedup_by(|x, y| x.href == y.href);
        if changed.is_empty() && deleted.is_empty() {
            return listing;
        }
        // Each changed href once, the last etag given winning; it is listed even when also
        // reported deleted (the deletion came first).
        let mut now: HashMap<&Href, &Etag> = HashMap::with_capacity(changed.len());
        for r in changed {
            now.insert(&r.href, &r.etag);
        }
        let gone: HashSet<&Href> = deleted.iter().collect();
        listing.retain(|r| !now.contains_key(r.href) && !gone.contains(r.href));
        listing.extend(now.into_iter().map(|(href, etag)| Listed { href, etag }));
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use davsync_storages::{Changes, ContentHash};

    fn state(href: &str, etag: &str) -> Option<SideState> {
        Some(SideState {
            href: Href(href.into()),
            etag: Etag(etag.into()),
            hash: ContentHash::default(),
        })
    }

    fn rows() -> Rows {
        [
            ItemRow {
                ident: "u1".into(),
                a: state("1.ics", "e1"),
                b: state("/c/1.ics", "E1"),
            },
            ItemRow {
                ident: "u2".into(),
                a: state("2.ics", "e2"),
                b: None,
            },
            ItemRow {
                ident: "u3".into(),
                a: state("3.ics", "e3"),
                b: state("/c/3.ics", "E3"),
            },
        ]
        .into_iter()
        .collect()
    }

    fn r(href: &str, etag: &str) -> ItemRef {
        ItemRef {
            href: Href(href.into()),
            etag: Etag(etag.into()),
        }
    }

    /// The listing `changes` give on `side`, sorted by href.
    fn listing_from_changes(side: Side, status: &Rows, changes: Changes) -> Vec<(String, String)> {
        let listing = if changes.complete {
            SideListing::Full(changes.changed)
        } else {
            SideListing::Since {
                changed: changes.changed,
                deleted: changes.deleted,
            }
        };
        let mut l: Vec<(String, String)> = listing
            .view(side, status)
            .into_iter()
            .map(|r| (r.href.0.clone(), r.etag.0.clone()))
            .collect();
        l.sort();
        l
    }

    fn pairs(l: &[(&str, &str)]) -> Vec<(String, String)> {
        l.iter()
            .map(|(h, e)| (h.to_string(), e.to_string()))
            .collect()
    }

    #[test]
    fn a_listed_href_is_known_only_at_the_recorded_etag() {
        let rows = rows();
        let index = StatusIndex::new(&rows);
        let (ident, s) = index.known(Side::B, (&r("/c/3.ics", "E3")).into()).unwrap();
        assert_eq!((ident, s.etag.as_str()), ("u3", "E3"));
        assert!(index
            .known(Side::B, (&r("/c/3.ics", "moved")).into())
            .is_none());
        assert_eq!(
            index.ident_at(Side::B, &Href("/c/3.ics".into())),
            Some("u3")
        );
        assert!(index
            .known(Side::A, (&r("/c/3.ics", "E3")).into())
            .is_none());
        assert!(index.ident_at(Side::B, &Href("2.ics".into())).is_none());
    }

    #[test]
    fn an_unchanged_side_lists_what_the_status_recorded_there() {
        let rows = rows();
        let changes = Changes {
            token: None,
            changed: vec![],
            deleted: vec![],
            complete: false,
        };
        let got = listing_from_changes(Side::B, &rows, changes);
        assert_eq!(got, pairs(&[("/c/1.ics", "E1"), ("/c/3.ics", "E3")]));
    }

    #[test]
    fn changes_apply_to_the_recorded_listing_and_a_changed_href_outlives_its_deletion() {
        let rows = rows();
        let changes = Changes {
            token: None,
            changed: vec![
                r("/c/3.ics", "E3'"),
                r("/c/9.ics", "x"),
                r("/c/9.ics", "y"),
                r("/c/1.ics", "E1'"),
            ],
            deleted: vec![Href("/c/1.ics".into()), Href("/c/gone.ics".into())],
            complete: false,
        };
        let got = listing_from_changes(Side::B, &rows, changes);
        assert_eq!(
            got,
            pairs(&[("/c/1.ics", "E1'"), ("/c/3.ics", "E3'"), ("/c/9.ics", "y")])
        );
        let changes = Changes {
            token: None,
            changed: vec![],
            deleted: vec![Href("3.ics".into())],
            complete: false,
        };
        let got = listing_from_changes(Side::A, &rows, changes);
        assert_eq!(got, pairs(&[("1.ics", "e1"), ("2.ics", "e2")]));
    }

    #[test]
    fn a_complete_answer_is_the_listing_itself() {
        let changes = Changes {
            token: None,
            changed: vec![r("/c/5.ics", "E5")],
            deleted: vec![],
            complete: true,
        };
        let got = listing_from_changes(Side::B, &rows(), changes);
        assert_eq!(got, pairs(&[("/c/5.ics", "E5")]));
    }
}
