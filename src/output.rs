//! What the user sees: change lines on stdout, failures on stderr, a progress bar on a
//! terminal.
//!
//! Change lines are printed exactly as the engine words them, prefixed `Would: ` in a dry
//! run and suppressed by `-q`. Failures always reach stderr (`-q` included) and are counted
//! for the exit code. The progress bar exists only when stderr is a terminal, so scripts and
//! logs never see control characters.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sync::Reporter;

/// Work smaller than this many items finishes too fast for a bar to help; it gets none.
const PROGRESS_MIN_ITEMS: u64 = 20;

/// The prefix of every change line in a dry run.
pub const DRY_RUN_PREFIX: &str = "Would: ";

pub struct CliReporter {
    dry_run: bool,
    quiet: bool,
    failures: AtomicUsize,
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
            failures: AtomicUsize::new(0),
            progress,
        }
    }

    /// Failures reported so far (items, collections, whole pairs).
    pub fn failures(&self) -> usize {
        self.failures.load(Ordering::SeqCst)
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

/// `<scope> [=====>    ] 40/100 12/s ETA 5s`: how far, how fast, how long still.
fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec:.0} ETA {eta}")
        .expect("valid template")
        .progress_chars("=> ")
}

impl Reporter for CliReporter {
    fn change(&self, line: &str) {
        if self.quiet {
            return;
        }
        if self.dry_run {
            self.line(&format!("{DRY_RUN_PREFIX}{line}"));
        } else {
            self.line(line);
        }
    }

    fn failure(&self, message: &str) {
        self.failures.fetch_add(1, Ordering::SeqCst);
        self.with_bar_hidden(|| crate::logging::error_line(message));
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
}
