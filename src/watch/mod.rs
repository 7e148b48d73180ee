//! `davsync watch`: sync once, then keep the pairs in sync as they change.
//!
//! One loop owns all the state and does one thing at a time: it collects file-system events
//! (debounced per collection), runs the periodic checks that are due, asks [`check`] whether
//! what was touched really differs from the status, and syncs what does in one round
//! (`round`). Rounds never overlap, so a round's own writes are recorded in the status
//! before their events are looked at, and then look unchanged.
//!
//! Failures never end the loop: a failed round is retried after a backoff that doubles from
//! [`BACKOFF_START`] up to [`BACKOFF_MAX`]; a failed check is retried the same way, at most an
//! `interval` apart. SIGINT/SIGTERM let the round in progress finish (its writes are recorded
//! as they complete) and end with exit code 0; a second signal stops at once.

pub mod check;
pub mod local;
pub mod ready;
mod round;
pub mod stop;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use davsync_storages::{CollectionToken, Storage};
use tokio::sync::{mpsc, watch as tokio_watch};
use tokio::time::Instant;

use crate::config::{Config, StorageParams};
use crate::status::Status;
use crate::sync::{CollectionSpec, PairSpec, Side};
use local::{Root, RootChange, RootState, Unit};
use round::PairWork;

/// Quiet time after the last file-system event of a collection before it is checked: long
/// enough for an editor's save (write, rename, attribute change) to be one change, short
/// enough for the sync to start well within the promised 2 seconds.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// The longest a unit waits after its first event, however busy its folder stays, so that
/// a steady stream of writes cannot put the sync off past the promised 2 seconds.
pub const DEBOUNCE_MAX: Duration = Duration::from_millis(1200);

/// How often watched folders are checked for having been deleted or re-created.
const ROOT_POLL: Duration = Duration::from_secs(1);

/// First wait after a failed round or check; doubled after each further failure.
pub const BACKOFF_START: Duration = Duration::from_secs(5);
/// The longest wait between two tries of a failing round.
pub const BACKOFF_MAX: Duration = Duration::from_secs(600);

/// File-system events waiting for the loop; beyond this (a burst of thousands of writes)
/// they are dropped and everything local is checked instead.
const EVENT_QUEUE: usize = 1024;

/// The periodic check of one side of a pair.
struct SideCheck {
    side: Side,
    local: bool,
    interval: Duration,
    next: Instant,
    backoff: Duration,
}

struct PairState {
    spec: PairSpec,
    status: Option<Status>,
    /// Units touched by file-system events: when the first event came, and when the unit is
    /// due for a check.
    dirty: BTreeMap<Unit, (Instant, Instant)>,
    /// A failed round to try again, and when.
    retry: Option<(Instant, BTreeSet<Unit>)>,
    backoff: Duration,
    checks: Vec<SideCheck>,
    /// Tokens at which remote checks found a side as recorded, by collection and side: the
    /// next check asks for changes since them. Forgotten when the pair syncs.
    tokens: HashMap<(String, Side), CollectionToken>,
}

impl PairState {
    fn storage(&self, side: Side) -> &Arc<dyn Storage> {
        match side {
            Side::A => &self.spec.a.storage,
            Side::B => &self.spec.b.storage,
        }
    }

    fn status(&mut self, status_dir: &std::path::Path) -> Result<&Status, String> {
        if self.status.is_none() {
            let s = Status::open(status_dir, &self.spec.name).map_err(|e| {
                format!(
                    "opening the status {}: {e}",
                    crate::status::path_for(status_dir, &self.spec.name).display()
                )
            })?;
            self.status = Some(s);
        }
        Ok(self.status.as_ref().expect("just opened"))
    }

    /// Whether the pair takes every collection found on `side` (`"from a"`/`"from b"`).
    fn dynamic(&self, side: Side) -> bool {
        self.spec.collections.iter().flatten().any(|c| {
            matches!(
                (c, side),
                (CollectionSpec::FromA, Side::A) | (CollectionSpec::FromB, Side::B)
            )
        })
    }

    /// Whether a collection that `side` calls `side_name` belongs to the pair.
    fn wants(&self, side: Side, side_name: &str) -> bool {
        self.dynamic(side)
            || self.spec.collections.iter().flatten().any(|c| match c {
                CollectionSpec::Named(n) => n == side_name,
                CollectionSpec::Mapped { a, b, .. } => {
                    side_name == if side == Side::A { a } else { b }
                }
                _ => false,
            })
    }
}

/// Runs `watch` over the given pairs (built, credentials fetched, status locks held) until
/// a signal ends it.
pub async fn run(config: &Config, pairs: Vec<PairSpec>, quiet: bool) -> anyhow::Result<ExitCode> {
    let signals = listen_for_signals()?;
    let status_dir = config.status_path.clone();
    let trash = crate::commands::trash::trash_of(config);

    let stop = stop::StopFlag::default();
    let now = Instant::now();
    let mut states: Vec<PairState> = pairs
        .into_iter()
        .map(|mut spec| {
            spec.a.storage = stop::Stoppable::wrap(spec.a.storage.clone(), &stop);
            spec.b.storage = stop::Stoppable::wrap(spec.b.storage.clone(), &stop);
            let mut checks = Vec::new();
            for (side, handle) in [(Side::A, &spec.a), (Side::B, &spec.b)] {
                let st = &config.storages[&handle.name];
                let local = !matches!(st.params, StorageParams::Dav(_));
                checks.push(SideCheck {
                    side,
                    local,
                    interval: st.interval,
                    next: now + st.interval,
                    backoff: BACKOFF_START,
                });
            }
            PairState {
                spec,
                status: None,
                dirty: BTreeMap::new(),
                retry: None,
                backoff: BACKOFF_START,
                checks,
                tokens: HashMap::new(),
            }
        })
        .collect();

    // Watching starts before the first sync, so that an edit made while it runs is seen.
    let (tx, mut events) = mpsc::channel::<notify::Event>(EVENT_QUEUE);
    let overflow = Arc::new(AtomicBool::new(false));
    let watcher = {
        let overflow = overflow.clone();
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if !changes_something(&ev) => {}
            Ok(ev) => {
                if tx.try_send(ev).is_err() {
                    overflow.store(true, Ordering::SeqCst);
                }
            }
            Err(e) => {
                tracing::warn!("file-system notification: {e}");
                overflow.store(true, Ordering::SeqCst);
            }
        })
    };
    // Without notifications (the inotify limits reached, say), local storages are still
    // checked every `interval`: slower, but kept in sync.
    let mut watcher: Box<dyn notify::Watcher> = match watcher {
        Ok(w) => Box::new(w),
        Err(e) => {
            tracing::error!(
                "cannot watch the file system for changes ({e}); local storages are checked \
                 every `interval` seconds instead"
            );
            Box::new(notify::NullWatcher)
        }
    };
    let mut roots: Vec<Root> = states
        .iter()
        .enumerate()
        .flat_map(|(i, s)| local::roots_of(config, i, &s.spec))
        .collect();
    for root in &mut roots {
        if local::refresh(root, watcher.as_mut()) != RootChange::Back {
            tracing::info!(
                "{} does not exist (yet); davsync watches for it",
                root.dir.display()
            );
        }
    }

    ready::notify_ready(&format!("watching {} pairs", states.len()));
    tracing::info!("first sync of {} pairs", states.len());

    let mut signals = signals;
    // The first round: every pair whole.
    let work: Vec<(usize, BTreeSet<Unit>)> =
        (0..states.len()).map(|i| (i, BTreeSet::new())).collect();
    if !run_round(
        &mut states,
        work,
        &status_dir,
        &trash,
        quiet,
        &mut signals,
        &stop,
    )
    .await
    {
        return Ok(ExitCode::from(1));
    }

    let mut next_root_poll = Instant::now() + ROOT_POLL;
    loop {
        if *signals.borrow() > 0 {
            break;
        }
        let wake = next_wake(&states, next_root_poll);
        tokio::select! {
            biased;
            _ = signals.changed() => continue,
            ev = events.recv() => {
                if let Some(ev) = ev {
                    on_event(&ev, &roots, &mut states);
                }
                while let Ok(ev) = events.try_recv() {
                    on_event(&ev, &roots, &mut states);
                }
                // A folder that never stops changing must not starve what is due.
                if Instant::now() < wake {
                    continue;
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        if overflow.swap(false, Ordering::SeqCst) {
            tracing::info!("file-system events were lost; checking every local collection");
            for s in &mut states {
                for c in s.checks.iter_mut().filter(|c| c.local) {
                    c.next = now;
                }
            }
        }
        if now >= next_root_poll {
            poll_roots(&mut roots, watcher.as_mut(), &mut states);
            next_root_poll = now + ROOT_POLL;
        }
        let held: BTreeSet<usize> = roots
            .iter()
            .filter(|r| r.state == RootState::Deleted)
            .map(|r| r.pair)
            .collect();
        // Checks only read, so a signal may cut them short (a server that takes its
        // `timeout` to answer must not hold up a stop).
        let collect = async {
            let mut work = Vec::new();
            for (i, s) in states.iter_mut().enumerate() {
                if held.contains(&i) {
                    continue;
                }
                let units = due_units(s, &status_dir, now).await;
                if !units.is_empty() {
                    work.push((i, units));
                }
            }
            work
        };
        let work = tokio::select! {
            work = collect => work,
            _ = signals.changed() => break,
        };
        if !work.is_empty()
            && !run_round(
                &mut states,
                work,
                &status_dir,
                &trash,
                quiet,
                &mut signals,
                &stop,
            )
            .await
        {
            return Ok(ExitCode::from(1));
        }
    }
    ready::notify_stopping();
    tracing::info!("stopping: no round in progress, everything synced so far is recorded");
    Ok(ExitCode::SUCCESS)
}

/// A counter of SIGINT/SIGTERM received. Registered before the first sync, so that a signal
/// during it lets it finish instead of killing the process.
fn listen_for_signals() -> anyhow::Result<tokio_watch::Receiver<u32>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let (tx, rx) = tokio_watch::channel(0u32);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    Ok(rx)
}

/// When the loop must next act on its own: the earliest due unit, retry or check.
fn next_wake(states: &[PairState], root_poll: Instant) -> Instant {
    let mut wake = root_poll;
    for s in states {
        for (_, due) in s.dirty.values() {
            wake = wake.min(*due);
        }
        if let Some((at, _)) = &s.retry {
            wake = wake.min(*at);
        }
        for c in &s.checks {
            wake = wake.min(c.next);
        }
    }
    wake
}

/// False for reading a file or listing a folder: they change nothing, davsync's own checks
/// and syncs do both all the time, and a reader that keeps reading (an editor, a calendar
/// app polling) must not put a pending sync off.
fn changes_something(ev: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match ev.kind {
        EventKind::Access(kind) => kind == AccessKind::Close(AccessMode::Write),
        _ => true,
    }
}

/// Marks the units an event touched as due one [`DEBOUNCE`] from now (a later event of the
/// same unit pushes it back, up to [`DEBOUNCE_MAX`] after the first).
fn on_event(ev: &notify::Event, roots: &[Root], states: &mut [PairState]) {
    let now = Instant::now();
    for path in &ev.paths {
        for root in roots.iter().filter(|r| path.starts_with(&r.dir)) {
            let state = &mut states[root.pair];
            if let Some(unit) = root.unit_for(&state.spec, path) {
                tracing::trace!(path = %path.display(), ?unit, kind = ?ev.kind, "file-system event");
                let first = state.dirty.get(&unit).map_or(now, |(first, _)| *first);
                let due = (now + DEBOUNCE).min(first + DEBOUNCE_MAX);
                state.dirty.insert(unit, (first, due));
            }
        }
    }
}

fn poll_roots(roots: &mut [Root], watcher: &mut dyn notify::Watcher, states: &mut [PairState]) {
    for root in roots.iter_mut() {
        if local::refresh(root, watcher) == RootChange::Back {
            let state = &mut states[root.pair];
            let unit = if state.spec.collections.is_some() {
                Unit::Collections
            } else {
                Unit::Collection(String::new())
            };
            let now = Instant::now();
            state.dirty.insert(unit, (now, now));
        }
    }
}

/// The units of a pair that need a round now: due retries, and due events and periodic
/// checks whose check finds a difference from the status.
async fn due_units(
    s: &mut PairState,
    status_dir: &std::path::Path,
    now: Instant,
) -> BTreeSet<Unit> {
    let mut units = BTreeSet::new();
    if let Some((at, _)) = &s.retry {
        if *at <= now {
            let (_, retry) = s.retry.take().expect("checked");
            units.extend(retry);
            if units.is_empty() {
                units.insert(Unit::Collections);
            }
        }
    }
    let touched: Vec<Unit> = s
        .dirty
        .iter()
        .filter(|(_, (_, due))| *due <= now)
        .map(|(u, _)| u.clone())
        .collect();
    for unit in touched {
        s.dirty.remove(&unit);
        if units.contains(&unit) || units.contains(&Unit::Collections) {
            continue;
        }
        let label = unit_label(&s.spec, &unit);
        match local_unit_changed(s, status_dir, &unit).await {
            Ok(None) => tracing::info!("{label}: unchanged since the last sync"),
            Ok(Some(u)) => {
                tracing::info!("{}: changed locally", unit_label(&s.spec, &u));
                units.insert(u);
            }
            Err(e) => {
                tracing::warn!("{label}: checking a local change failed, syncing: {e}");
                units.insert(unit);
            }
        }
    }
    for k in 0..s.checks.len() {
        if s.checks[k].next > now {
            continue;
        }
        let side = s.checks[k].side;
        let name = if side == Side::A {
            s.spec.a.name.clone()
        } else {
            s.spec.b.name.clone()
        };
        match periodic_check(s, status_dir, side, s.checks[k].local).await {
            Ok(found) => {
                let c = &mut s.checks[k];
                c.next = now + c.interval;
                c.backoff = BACKOFF_START;
                if found.is_empty() {
                    tracing::debug!("{name}: unchanged since the last sync");
                } else {
                    let labels: Vec<String> =
                        found.iter().map(|u| unit_label(&s.spec, u)).collect();
                    tracing::info!("{name}: changed since the last sync: {}", labels.join(", "));
                }
                units.extend(found);
            }
            Err(e) => {
                let c = &mut s.checks[k];
                let wait = c.backoff.min(c.interval);
                tracing::error!(
                    "checking {name} for changes failed: {e}; trying again in {}s",
                    wait.as_secs()
                );
                c.next = now + wait;
                c.backoff = (c.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    if units.contains(&Unit::Collections) {
        units.retain(|u| *u == Unit::Collections);
    }
    units
}

/// `pair`, `pair/collection`, or `pair (collections)` for the set of collections.
fn unit_label(pair: &PairSpec, unit: &Unit) -> String {
    match unit {
        Unit::Collection(c) if c.is_empty() => pair.name.clone(),
        Unit::Collection(c) => format!("{}/{c}", pair.name),
        Unit::Collections => format!("{} (its collections)", pair.name),
    }
}

/// Whether a unit touched by file-system events differs from the status on a local side:
/// `None` when not (davsync's own writes), else the unit to sync.
async fn local_unit_changed(
    s: &mut PairState,
    status_dir: &std::path::Path,
    unit: &Unit,
) -> Result<Option<Unit>, String> {
    let locals: Vec<Side> = s
        .checks
        .iter()
        .filter(|c| c.local)
        .map(|c| c.side)
        .collect();
    match unit {
        Unit::Collections => {
            for side in locals {
                if collection_set_changed(s, status_dir, side).await? {
                    return Ok(Some(Unit::Collections));
                }
            }
            Ok(None)
        }
        Unit::Collection(name) => {
            let row = s
                .status(status_dir)?
                .collection(name)
                .map_err(|e| e.to_string())?;
            let Some(row) = row else {
                // Not synced yet: a new collection, found by a whole-pair round.
                return Ok(Some(if s.spec.collections.is_some() {
                    Unit::Collections
                } else {
                    unit.clone()
                }));
            };
            for side in locals {
                let storage = s.storage(side).clone();
                let status = s.status(status_dir)?;
                let checked =
                    check::side_changed(storage.as_ref(), status, &row, side, false, None).await?;
                if checked.changed {
                    return Ok(Some(unit.clone()));
                }
            }
            Ok(None)
        }
    }
}

/// Whether the collections `side` holds for the pair differ from those the status knows.
async fn collection_set_changed(
    s: &mut PairState,
    status_dir: &std::path::Path,
    side: Side,
) -> Result<bool, String> {
    let rows = s
        .status(status_dir)?
        .collections()
        .map_err(|e| e.to_string())?;
    let storage = s.storage(side).clone();
    let found = storage
        .discover()
        .await
        .map_err(|e| crate::commands::chain(&e))?;
    let found: BTreeSet<String> = found
        .into_iter()
        .filter(|c| s.wants(side, &c.name))
        .map(|c| c.href)
        .collect();
    let known: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| match side {
            Side::A => r.a_href.clone(),
            Side::B => r.b_href.clone(),
        })
        .collect();
    Ok(found != known)
}

/// The periodic check of one side: every collection the status knows, compared the cheapest
/// way; for a side whose collections are all taken, also whether the set changed.
async fn periodic_check(
    s: &mut PairState,
    status_dir: &std::path::Path,
    side: Side,
    local: bool,
) -> Result<BTreeSet<Unit>, String> {
    let mut found = BTreeSet::new();
    let rows = s
        .status(status_dir)?
        .collections()
        .map_err(|e| e.to_string())?;
    if rows.is_empty() {
        // Never synced (the first round failed): only a round can tell.
        found.insert(Unit::Collections);
        return Ok(found);
    }
    if s.spec.collections.is_some()
        && s.dynamic(side)
        && collection_set_changed(s, status_dir, side).await?
    {
        found.insert(Unit::Collections);
        return Ok(found);
    }
    let storage = s.storage(side).clone();
    for row in &rows {
        let key = (row.name.clone(), side);
        let remembered = s.tokens.remove(&key);
        let status = s.status(status_dir)?;
        let checked = check::side_changed(
            storage.as_ref(),
            status,
            row,
            side,
            !local,
            remembered.as_ref(),
        )
        .await?;
        if checked.changed {
            found.insert(Unit::Collection(row.name.clone()));
        } else if let Some(token) = checked.token {
            s.tokens.insert(key, token);
        }
    }
    Ok(found)
}

/// Runs one round over `work` (pair index, units), guarding it against signals. Returns
/// false when a second signal cut it short.
async fn run_round(
    states: &mut [PairState],
    work: Vec<(usize, BTreeSet<Unit>)>,
    status_dir: &std::path::Path,
    trash: &crate::trash::Trash,
    quiet: bool,
    signals: &mut tokio_watch::Receiver<u32>,
    stop: &stop::StopFlag,
) -> bool {
    ready::notify_status("syncing");
    let outcome = {
        let pair_work: Vec<PairWork<'_>> = work
            .iter()
            .map(|(i, units)| PairWork {
                pair: &states[*i].spec,
                units: units.clone(),
            })
            .collect();
        let fut = round::run(&pair_work, status_dir, trash, quiet, stop);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => break out,
                changed = signals.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    let n = *signals.borrow();
                    if n >= 2 {
                        tracing::error!(
                            "stopped at once by a second signal: the writes of this round not \
                             yet recorded are recognized by the next sync"
                        );
                        return false;
                    }
                    stop.set();
                    tracing::warn!(
                        "stopping: the writes in progress are finished and recorded, the \
                         rest is left for the next sync; signal again to stop at once"
                    );
                }
            }
        }
    };
    let now = Instant::now();
    for ((i, units), failures) in work.into_iter().zip(outcome.failures) {
        let s = &mut states[i];
        // The round may have written anywhere in the pair: start again from its tokens.
        s.tokens.clear();
        if failures == 0 {
            s.backoff = BACKOFF_START;
            continue;
        }
        let wait = s.backoff;
        s.backoff = (s.backoff * 2).min(BACKOFF_MAX);
        tracing::warn!(
            "pair {}: {failures} failures in this round; trying again in {}s",
            s.spec.name,
            wait.as_secs()
        );
        let mut retry = s.retry.take().map(|(_, u)| u).unwrap_or_default();
        retry.extend(units);
        s.retry = Some((now + wait, retry));
    }
    ready::notify_status("idle");
    true
}
