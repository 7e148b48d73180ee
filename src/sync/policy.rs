//! The read-only policy (`partial_sync`): what happens to a change that would have to be
//! written to a read-only side. One function, asked by the plan (per item), by conflict
//! handling (a conflict writes to both sides) and by metasync (per property).

use super::side::{BySide, Side};

/// What to do when the writable side of a pair with a read-only side changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartialSync {
    #[default]
    Revert,
    Error,
    Ignore,
}

impl PartialSync {
    /// The names of the config (`partial_sync = "..."`).
    pub const NAMES: [(&'static str, PartialSync); 3] = [
        ("revert", PartialSync::Revert),
        ("error", PartialSync::Error),
        ("ignore", PartialSync::Ignore),
    ];

    pub fn from_name(name: &str) -> Option<PartialSync> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

/// The policy's answer for one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No read-only side is written: go ahead.
    Proceed,
    /// Drop the change: `ignore`, or both sides are read-only (nothing can be written).
    Skip,
    /// `revert`: make the writable side equal to the read-only side `ro` instead.
    Revert { ro: Side },
    /// `error`: the change fails alone; the message names the read-only side `ro`.
    Fail { ro: Side },
}

/// THE `partial_sync` rule: `writes` are the sides the change would write to.
pub fn partial_sync(
    policy: PartialSync,
    read_only: BySide<bool>,
    writes: impl IntoIterator<Item = Side>,
) -> Verdict {
    let Some(ro) = writes.into_iter().find(|s| read_only[*s]) else {
        return Verdict::Proceed;
    };
    if read_only.both() {
        return Verdict::Skip;
    }
    match policy {
        PartialSync::Revert => Verdict::Revert { ro },
        PartialSync::Ignore => Verdict::Skip,
        PartialSync::Error => Verdict::Fail { ro },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_a_writable_side_proceeds_whatever_the_policy() {
        let ro = BySide::new(true, false);
        assert_eq!(
            partial_sync(PartialSync::Error, ro, [Side::B]),
            Verdict::Proceed
        );
    }

    #[test]
    fn a_write_to_the_read_only_side_follows_the_policy() {
        let ro = BySide::new(false, true);
        assert_eq!(
            partial_sync(PartialSync::Revert, ro, [Side::B]),
            Verdict::Revert { ro: Side::B }
        );
        assert_eq!(
            partial_sync(PartialSync::Error, ro, [Side::A, Side::B]),
            Verdict::Fail { ro: Side::B }
        );
        assert_eq!(
            partial_sync(PartialSync::Ignore, ro, [Side::B]),
            Verdict::Skip
        );
    }

    #[test]
    fn nothing_is_written_when_both_sides_are_read_only() {
        let ro = BySide::new(true, true);
        assert_eq!(
            partial_sync(PartialSync::Revert, ro, [Side::A]),
            Verdict::Skip
        );
    }
}
