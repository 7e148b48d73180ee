//! What the user sees: the engine's events rendered as change lines on stdout and failures
//! on stderr, the summary line, a progress bar on a terminal.
//!
//! Change lines are the events' `Display`, prefixed `Would: ` in a dry run and suppressed
//! by `-q`. Failures always reach stderr (`-q` included). Every event is counted here, once:
//! the counts make the summary line and the exit code. The progress bar exists only when
//! stderr is a terminal, so scripts and logs never see control characters.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sync::{Counts, Event, Reporter};

/// Work smaller than this many items finishes too fast for a bar to help; it gets none.
const PROGRESS_MIN_ITEMS: u64 = 20;

/// The prefix of every change line in a dry run.
pub const DRY_RUN_PREFIX: &str = "Would: ";

pub struct CliReporter {
    dry_run: bool,
    quiet: bool,
    counts: Mutex<Counts>,
    progress: Option<Progress>,
}

struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl CliReporter {
    pub fn new(dry_run: bool, quiet: bool) -> Self {
        // JSON stderr is for machines: one object per line, no bar.
        let progress =
            (!quiet && !crate::logging::json() && std::io::stderr().is_terminal()).then(|| {
                Progress {
                    multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                    bars: Mutex::new(HashMap::new()),
                }
            });
        CliReporter {
            dry_run,
            quiet,
            counts: Mutex::new(Counts::default()),
            progress,
        }
    }

    /// Failures reported so far (items, collections, whole pairs, unresolved conflicts).
    pub fn failures(&self) -> usize {
        self.counts().failures()
    }

    /// Everything counted so far.
    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A failure of the command itself (not an engine event): printed and counted.
    pub fn failure(&self, message: &str) {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).failed += 1;
        self.error_line(message);
    }

    /// Prints the summary line of a sync on stderr (not with `-q`).
    pub fn summary(&self, pairs: usize, elapsed: Duration) {
        if self.quiet {
            return;
        }
        let counts = self.counts();
        let line = summary_line(&counts, pairs, self.dry_run, elapsed);
        let mut fields = serde_json::Map::new();
        fields.insert("action".into(), "summary".into());
        fields.insert(
            "duration_ms".into(),
            (elapsed.as_millis().min(u64::MAX as u128) as u64).into(),
        );
        for (k, v) in [
            ("pairs", pairs),
            ("collections", counts.collections),
            ("uploaded", counts.uploaded),
            ("updated", counts.updated),
            ("deleted", counts.deleted),
            ("resolved", counts.resolved),
            ("unresolved", counts.unresolved),
            ("failed", counts.failed),
        ] {
            fields.insert(k.into(), v.into());
        }
        self.with_bar_hidden(|| crate::logging::info_line(&line, fields));
    }

    fn error_line(&self, message: &str) {
        self.with_bar_hidden(|| crate::logging::error_line(message));
    }

    /// An engine event as a JSON line on stderr (`--log-format json` only), with its
    /// pair, collection, uid, action and outcome.
    fn json_event(&self, event: &Event) {
        let f = event.fields();
        let mut fields = serde_json::Map::new();
        fields.insert("pair".into(), f.pair.into());
        if let Some(c) = f.collection {
            fields.insert("collection".into(), c.into());
        }
        if let Some(u) = f.uid {
            fields.insert("uid".into(), u.into());
        }
        fields.insert("action".into(), f.action.into());
        fields.insert("outcome".into(), f.outcome.into());
        if self.dry_run {
            fields.insert("dry_run".into(), true.into());
        }
        let level = if event.is_failure() { "ERROR" } else { "INFO" };
        let line = crate::logging::json_line(level, &event.to_string(), fields);
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// Prints a line of command output (discover, status, check) on stdout, around the bar.
    pub fn line(&self, line: &str) {
        self.with_bar_hidden(|| {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`davsync sync | head`) is not an error of the sync.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        });
    }

    /// Removes any progress bar still drawn.
    pub fn finish(&self) {
        if let Some(p) = &self.progress {
            for (_, bar) in p.bars.lock().expect("progress lock").drain() {
                bar.finish_and_clear();
            }
        }
    }

    fn with_bar_hidden(&self, f: impl FnOnce()) {
        match &self.progress {
            Some(p) => p.multi.suspend(f),
            None => f(),
        }
    }
}

/// The line after every sync: `Synced <P> pairs, <C> collections: <n> uploaded, ...`.
pub fn summary_line(counts: &Counts, pairs: usize, dry_run: bool, elapsed: Duration) -> String {
    format!(
        "{} {pairs} pairs, {} collections: {} uploaded, {} updated, {} deleted, {} conflicts \
         resolved, {} unresolved, {} failed in {:.2}s",
        if dry_run {
            "Would have synced"
        } else {
            "Synced"
        },
        counts.collections,
        counts.uploaded,
        counts.updated,
        counts.deleted,
        counts.resolved,
        counts.unresolved,
        counts.failed,
        elapsed.as_secs_f64()
    )
}

/// `<scope> [=====>    ] 40/100 12/s ETA 5s`: how far, how fast, how long still.
fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec:.0} ETA {eta}")
        .expect("valid template")
        .progress_chars("=> ")
}

impl Reporter for CliReporter {
    fn event(&self, event: &Event) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(event);
        if event.is_change() && !self.quiet {
            if self.dry_run {
                self.line(&format!("{DRY_RUN_PREFIX}{event}"));
            } else {
                self.line(&event.to_string());
            }
        }
        if crate::logging::json() {
            if event.is_failure() || (event.is_change() && !self.quiet) {
                self.json_event(event);
            }
        } else if event.is_failure() {
            self.error_line(&event.to_string());
        }
    }

    fn progress(&self, scope: &str, done: u64, total: u64) {
        let Some(p) = &self.progress else {
            return;
        };
        let mut bars = p.bars.lock().expect("progress lock");
        if done >= total {
            if let Some(bar) = bars.remove(scope) {
                bar.finish_and_clear();
            }
            return;
        }
        if total < PROGRESS_MIN_ITEMS && !bars.contains_key(scope) {
            return;
        }
        let bar = bars.entry(scope.to_owned()).or_insert_with(|| {
            let bar = p.multi.add(ProgressBar::new(total));
            bar.set_style(bar_style());
            bar.set_prefix(scope.to_owned());
            bar
        });
        bar.set_length(total);
        bar.set_position(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    #[test]
    fn progress_bars_show_count_rate_and_eta() {
        let term = InMemoryTerm::new(2, 120);
        let bar = ProgressBar::with_draw_target(
            Some(100),
            ProgressDrawTarget::term_like(Box::new(term.clone())),
        );
        bar.set_style(bar_style());
        bar.set_prefix("cals/work");
        bar.set_position(40);
        bar.tick();
        let shown = term.contents();
        let (head, tail) = shown
            .split_once("] 40/100 ")
            .unwrap_or_else(|| panic!("{shown:?}"));
        assert_eq!(
            head,
            format!("cals/work [{}>{}", "=".repeat(12), " ".repeat(17))
        );
        let (rate, eta) = tail
            .split_once(" ETA ")
            .unwrap_or_else(|| panic!("{shown:?}"));
        assert!(rate.ends_with("/s"), "{shown:?}");
        assert!(
            eta.ends_with('s') || eta.ends_with('m') || eta.ends_with('h'),
            "{shown:?}"
        );
    }

    #[test]
    fn the_summary_line_reads_as_the_interface_spells_it() {
        let counts = Counts {
            collections: 3,
            uploaded: 4,
            updated: 5,
            deleted: 6,
            resolved: 1,
            unresolved: 2,
            failed: 7,
        };
        assert_eq!(
            summary_line(&counts, 2, false, Duration::from_millis(1234)),
            "Synced 2 pairs, 3 collections: 4 uploaded, 5 updated, 6 deleted, 1 conflicts \
             resolved, 2 unresolved, 7 failed in 1.23s"
        );
        assert!(summary_line(&Counts::default(), 1, true, Duration::ZERO)
            .starts_with("Would have synced 1 pairs, 0 collections: 0 uploaded"));
    }
}
