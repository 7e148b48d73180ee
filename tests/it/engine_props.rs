//! Property-based state-machine test of the sync engine over in-memory storages: random
//! interleavings of creates, updates and deletes on either side, syncs under each conflict
//! strategy, write failures and interruptions injected mid-sync. After every successful
//! sync the invariants below must hold.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use davsync::status::Status;
use davsync::sync::event::Recorder as Rec;
use davsync::sync::{
    sync_pair, PairReport, PairSpec, PartialSync, StorageHandle, Strategy as Resolve, SyncOptions,
};
use davsync_storages::memory::{MemoryStorage, ROOT_HREF};
use davsync_storages::{ErrorKind, Item, ItemKind};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    /// Create or edit the item with this UID on a side.
    Write {
        on_a: bool,
        uid: u8,
    },
    /// Create an item without UID on a side.
    WriteNoUid {
        on_a: bool,
    },
    /// Delete the idx-th item (modulo) of a side.
    Delete {
        on_a: bool,
        idx: usize,
    },
    Sync,
    /// The next `n` writes to a side fail during this sync.
    FailingSync {
        on_a: bool,
        n: usize,
    },
    /// The sync is cut off right after the `n`-th write to a side succeeded.
    InterruptedSync {
        on_a: bool,
        n: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (any::<bool>(), 0u8..5).prop_map(|(on_a, uid)| Action::Write { on_a, uid }),
        1 => any::<bool>().prop_map(|on_a| Action::WriteNoUid { on_a }),
        3 => (any::<bool>(), 0usize..8).prop_map(|(on_a, idx)| Action::Delete { on_a, idx }),
        3 => Just(Action::Sync),
        1 => (any::<bool>(), 1usize..4).prop_map(|(on_a, n)| Action::FailingSync { on_a, n }),
        1 => (any::<bool>(), 0usize..3).prop_map(|(on_a, n)| Action::InterruptedSync { on_a, n }),
    ]
}

fn strategies() -> impl Strategy<Value = Vec<Resolve>> {
    prop_oneof![
        Just(vec![Resolve::AWins]),
        Just(vec![Resolve::BWins]),
        Just(vec![Resolve::KeepBoth]),
        Just(vec![Resolve::NewerWins, Resolve::BWins]),
        Just(vec![]),
    ]
}

fn ev(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{summary}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn ev_no_uid(summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n"
    )
}

fn summary_of(raw: &str) -> String {
    raw.lines()
        .find_map(|l| l.strip_prefix("SUMMARY:"))
        .unwrap_or_default()
        .to_owned()
}

struct World {
    a: Arc<MemoryStorage>,
    b: Arc<MemoryStorage>,
    dir: tempfile::TempDir,
    pair: PairSpec,
    version: u64,
    /// Versions written on a side since the last clean sync, per side: (href -> summary).
    dirty_a: BTreeMap<String, String>,
    dirty_b: BTreeMap<String, String>,
}

impl World {
    fn new(strategies: Vec<Resolve>, read_only_a: bool) -> World {
        let a = Arc::new(MemoryStorage::new(ItemKind::Calendar));
        let b = Arc::new(MemoryStorage::new(ItemKind::Calendar));
        a.set_read_only(read_only_a);
        World {
            pair: PairSpec {
                name: "p".into(),
                a: StorageHandle {
                    name: "a".into(),
                    storage: a.clone(),
                },
                b: StorageHandle {
                    name: "b".into(),
                    storage: b.clone(),
                },
                collections: None,
                conflict_resolution: strategies,
                partial_sync: PartialSync::Revert,
                metadata: vec![],
            },
            a,
            b,
            dir: tempfile::tempdir().unwrap(),
            version: 0,
            dirty_a: BTreeMap::new(),
            dirty_b: BTreeMap::new(),
        }
    }

    fn side(&self, on_a: bool) -> &MemoryStorage {
        if on_a {
            &self.a
        } else {
            &self.b
        }
    }

    fn dirty(&mut self, on_a: bool) -> &mut BTreeMap<String, String> {
        if on_a {
            &mut self.dirty_a
        } else {
            &mut self.dirty_b
        }
    }

    fn apply_edit(&mut self, action: &Action) {
        match *action {
            Action::Write { on_a, uid } => {
                self.version += 1;
                let summary = format!("v{}", self.version);
                let uid = format!("u{uid}");
                let line = format!("UID:{uid}\r\n");
                let href = self
                    .side(on_a)
                    .items(ROOT_HREF)
                    .into_iter()
                    .find(|(_, _, raw)| String::from_utf8_lossy(raw).contains(&line))
                    .map(|(h, _, _)| h.0)
                    .unwrap_or_else(|| format!("{uid}.item"));
                self.side(on_a)
                    .insert_raw(ROOT_HREF, &href, ev(&uid, &summary));
                self.dirty(on_a).insert(href, summary);
            }
            Action::WriteNoUid { on_a } => {
                self.version += 1;
                let summary = format!("v{}", self.version);
                let href = format!("nouid-{}.ics", self.version);
                self.side(on_a)
                    .insert_raw(ROOT_HREF, &href, ev_no_uid(&summary));
                self.dirty(on_a).insert(href, summary);
            }
            Action::Delete { on_a, idx } => {
                let items = self.side(on_a).items(ROOT_HREF);
                if !items.is_empty() {
                    let href = items[idx % items.len()].0 .0.clone();
                    self.side(on_a).remove_raw(ROOT_HREF, &href);
                    self.dirty(on_a).remove(&href);
                }
            }
            _ => unreachable!(),
        }
    }

    async fn sync(&self, opts: &SyncOptions) -> (PairReport, Rec) {
        let rec = Rec::default();
        let report = sync_pair(&self.pair, self.dir.path(), opts, &rec).await;
        (report, rec)
    }

    /// A sync as a user would run it: when the emptied-side guard refuses (a side lost its
    /// last items, which the random edits do), they confirm with `--force-delete`.
    async fn user_sync(&self) -> (PairReport, Rec) {
        let (report, rec) = self.sync(&SyncOptions::default()).await;
        let guarded = rec.failures().iter().any(|f| f.contains("--force-delete"));
        if !guarded {
            return (report, rec);
        }
        let force = SyncOptions {
            force_delete: true,
            ..Default::default()
        };
        self.sync(&force).await
    }

    fn writes(&self) -> usize {
        self.a.write_count() + self.b.write_count()
    }

    /// ident -> normalized hash of each item of a side.
    fn idents(&self, s: &MemoryStorage) -> BTreeMap<String, String> {
        s.items(ROOT_HREF)
            .into_iter()
            .map(|(_, _, raw)| {
                let item = Item::parse(ItemKind::Calendar, raw).unwrap();
                (item.ident().to_owned(), item.hash().to_string())
            })
            .collect()
    }

    fn summaries(&self, s: &MemoryStorage) -> Vec<String> {
        s.items(ROOT_HREF)
            .into_iter()
            .map(|(_, _, raw)| summary_of(&String::from_utf8_lossy(&raw)))
            .collect()
    }

    /// Forgets the edits that reached both sides (a sync, even a cut-off one, carried them):
    /// from now on a deletion on either side may legitimately remove them.
    fn prune_synced(&mut self) {
        let on_a: BTreeSet<String> = self.summaries(&self.a).into_iter().collect();
        let on_b: BTreeSet<String> = self.summaries(&self.b).into_iter().collect();
        let both = |v: &String| on_a.contains(v) && on_b.contains(v);
        self.dirty_a.retain(|_, v| !both(v));
        self.dirty_b.retain(|_, v| !both(v));
    }

    /// The invariants that hold after a sync that reported no failure.
    async fn check_converged(&mut self, keep_both: bool) -> Result<(), TestCaseError> {
        let ia = self.idents(&self.a);
        let ib = self.idents(&self.b);
        prop_assert_eq!(&ia, &ib, "both sides hold the same items");
        let status = Status::open(self.dir.path(), "p").unwrap();
        let rows: BTreeSet<String> = status
            .items("")
            .unwrap()
            .idents()
            .map(str::to_owned)
            .collect();
        let present: BTreeSet<String> = ia.keys().cloned().collect();
        prop_assert_eq!(
            rows,
            present,
            "the status tracks exactly the existing items"
        );
        for s in [&self.a, &self.b] {
            let sums = self.summaries(s);
            let unique: BTreeSet<&String> = sums.iter().collect();
            prop_assert_eq!(unique.len(), sums.len(), "duplicated version: {:?}", sums);
        }
        if keep_both {
            let all: BTreeSet<String> = self
                .summaries(&self.a)
                .into_iter()
                .chain(self.summaries(&self.b))
                .collect();
            for v in self.dirty_a.values().chain(self.dirty_b.values()) {
                prop_assert!(all.contains(v), "version {} edited on a side was lost", v);
            }
        }
        self.dirty_a.clear();
        self.dirty_b.clear();
        // A second sync has nothing to do.
        let before = self.writes();
        let (report, rec) = self.sync(&SyncOptions::default()).await;
        prop_assert_eq!(report.failures, 0, "{:?}", rec.failures());
        prop_assert_eq!(self.writes(), before, "a second sync wrote");
        prop_assert!(rec.changes().is_empty());
        Ok(())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

async fn run_case(
    strategies: Vec<Resolve>,
    actions: Vec<Action>,
    read_only_a: bool,
    tokens: bool,
) -> Result<(), TestCaseError> {
    // With a read-only side, revert settles every difference: no failure is acceptable.
    let resolving = !strategies.is_empty() || read_only_a;
    let keep_both = strategies.contains(&Resolve::KeepBoth);
    let mut w = World::new(strategies, read_only_a);
    w.a.set_supports_changes(tokens);
    w.b.set_supports_changes(tokens);
    let opts = SyncOptions::default();
    for action in &actions {
        if read_only_a && matches!(action, Action::FailingSync { on_a: true, .. }) {
            continue;
        }
        match *action {
            Action::Sync => {
                let ro_writes = w.a.write_count();
                let (report, rec) = w.user_sync().await;
                if read_only_a {
                    prop_assert_eq!(w.a.write_count(), ro_writes, "read-only side written");
                }
                if report.failures == 0 {
                    w.check_converged(keep_both && !read_only_a).await?;
                } else {
                    w.prune_synced();
                    prop_assert!(!resolving, "a resolving sync failed: {:?}", rec.failures());
                }
            }
            Action::FailingSync { on_a, n } => {
                w.side(on_a).fail_next_writes(n, ErrorKind::Transport);
                w.sync(&opts).await;
                w.side(on_a).clear_failures();
                w.prune_synced();
            }
            Action::InterruptedSync { on_a, n } => {
                w.side(on_a).hang_after_writes(n);
                let cut = tokio::time::timeout(Duration::from_secs(5), w.sync(&opts)).await;
                w.side(on_a).clear_failures();
                drop(cut);
                w.prune_synced();
            }
            _ => w.apply_edit(action),
        }
    }
    // Whatever happened, good syncs converge.
    let mut last = None;
    for _ in 0..3 {
        let (report, rec) = w.user_sync().await;
        let fails = rec.failures();
        last = Some((report, fails));
        if last.as_ref().unwrap().0.failures == 0 {
            break;
        }
    }
    let (report, fails) = last.unwrap();
    if resolving {
        prop_assert_eq!(report.failures, 0, "no convergence: {:?}", fails);
    }
    if report.failures == 0 {
        w.check_converged(keep_both && !read_only_a).await?;
    } else {
        // Unresolved conflicts only, and they stay put without writes.
        prop_assert!(
            fails.iter().all(|f| f.contains("left unresolved")),
            "{:?}",
            fails
        );
        let before = w.writes();
        w.sync(&opts).await;
        prop_assert_eq!(
            w.writes(),
            before,
            "a sync with only unresolved conflicts wrote"
        );
    }
    if read_only_a {
        prop_assert_eq!(w.a.write_count(), 0, "the read-only side was written");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_and_syncs_converge(
        strategies in strategies(),
        actions in proptest::collection::vec(action(), 1..40),
        tokens in any::<bool>(),
    ) {
        runtime().block_on(run_case(strategies, actions, false, tokens))?;
    }

    #[test]
    fn a_read_only_side_is_never_written_and_revert_mirrors_it(
        actions in proptest::collection::vec(action(), 1..40),
        tokens in any::<bool>(),
    ) {
        runtime().block_on(run_case(vec![], actions, true, tokens))?;
    }
}
