//! Performing the ops of a plan: every write conditional on what the plan saw, and the race
//! rules for when a storage changed since it was listed:
//!
//! - an update meeting a fresh etag (412) re-reads the item: the same content only updates
//!   the status, different content becomes a conflict (never overwritten blindly);
//! - an update whose item vanished meanwhile uploads it again (an edit beats a deletion);
//! - an upload that finds the item there already compares with what is there;
//! - a delete meeting an edit sends the edit to the other side instead;
//! - a delete whose item is already gone just forgets it.
//!
//! Each write that succeeds emits its event and queues its status row ([`super::journal`]).

use davsync_storages::{ContentHash, Error, ErrorKind, Etag, Href, Item};

use super::conflict::{self, Outcome, Resolution};
use super::event::{Action, Event, Failure};
use super::job::CollectionJob;
use super::plan::{Current, Op, Problem};
use super::policy::{self, Verdict};
use super::side::Side;
use crate::status::{ItemRow, Pending, RowChange, Rows, SideState};
use crate::trash::Why;

/// What became of one op.
pub enum Done {
    Ok,
    Failed,
    /// A conflict no strategy resolved, and why.
    Unresolved(String),
}

/// The kind of a write, for its failure message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Upload,
    Update,
    Delete,
}

impl CollectionJob<'_> {
    pub(super) async fn exec(&self, op: Op, status: &Rows) -> Done {
        match op {
            Op::Record {
                row,
                base: Some(base),
            } => self.record_equal(&row, &base),
            Op::Record { row, base: None } => self.record(&row),
            Op::Forget { ident } => self.forget(&ident),
            Op::Fail { ident, problem } => self.problem(ident, &problem),
            Op::ClearPending { ident } => {
                self.journal.queue(RowChange::ClearPending(ident));
                Done::Ok
            }
            Op::Copy {
                ident,
                from,
                src,
                dst,
            } => {
                let item = src.item.clone().expect("hydrated");
                self.copy(&ident, from, &src, &item, dst.as_deref(), true)
                    .await
            }
            Op::Delete {
                ident,
                side,
                target,
            } => self.delete(&ident, side, &target, true).await,
            Op::Conflict { ident, a, b } => self.conflict(&ident, *a, *b, true, status).await,
        }
    }

    /// Reports an item the plan could not sync, in words that name it and say what to do.
    pub(super) fn problem(&self, ident: Option<String>, problem: &Problem) -> Done {
        let (action, message, href, kind) = match problem {
            Problem::Unreadable { side, href, error } if error.malformed() => (
                Action::Read,
                malformed_message(&self.place(*side).to_string(), href, &error.message),
                Some(href),
                Some(error.kind),
            ),
            Problem::Unreadable { side, href, error } => (
                Action::Read,
                format!("{}: reading {href}: {}", self.place(*side), error.message),
                Some(href),
                Some(error.kind),
            ),
            Problem::Unread { side, href, listed } => (
                Action::Read,
                if *listed {
                    format!("{}: {href} was listed but not read", self.place(*side))
                } else {
                    format!("{}: {href} was not read", self.place(*side))
                },
                Some(href),
                None,
            ),
            Problem::DuplicateUid { side, hrefs } => {
                let list: Vec<&str> = hrefs.iter().map(|h| h.as_str()).collect();
                (
                    Action::Plan,
                    format!(
                        "{}: duplicate UID {} in {} (not synced; run `davsync repair` to give \
                         each a fresh UID)",
                        self.place(*side),
                        ident.as_deref().unwrap_or_default(),
                        list.join(", ")
                    ),
                    None,
                    None,
                )
            }
            Problem::ReadOnly { ro } => (
                Action::Plan,
                format!(
                    "item {} changed in {} but {} is read-only (partial_sync = \"error\"); \
                     nothing written for it",
                    ident.as_deref().unwrap_or_default(),
                    self.place(ro.other()),
                    self.place(*ro)
                ),
                None,
                None,
            ),
        };
        let mut f = Failure::new(self.at.clone(), action, message).maybe_uid(ident);
        f.href = href.cloned();
        f.kind = kind;
        self.report(f)
    }

    /// A write that failed: the message names the item and where it was going.
    pub(super) fn write_failed(
        &self,
        ident: &str,
        side: Side,
        write: Write,
        e: &Error,
        item: Option<&Item>,
    ) -> Done {
        let place = self.place(side);
        let why = super::describe(e);
        let (action, mut msg) = match write {
            Write::Upload => (
                Action::Upload,
                format!("Copying (uploading) item {ident} to {place} failed: {why}"),
            ),
            Write::Update => (
                Action::Update,
                format!("Copying (updating) item {ident} to {place} failed: {why}"),
            ),
            Write::Delete => (
                Action::Delete,
                format!("Deleting item {ident} from {place} failed: {why}"),
            ),
        };
        let refusal = !matches!(
            e.kind(),
            ErrorKind::Transport | ErrorKind::Io | ErrorKind::Auth | ErrorKind::PreconditionFailed
        );
        if item.is_some_and(|i| i.uid().is_none()) && refusal && write != Write::Delete {
            // The item lives on the other side: that is where repair gives it a UID.
            msg.push_str(&format!(
                " (the item has no UID; run `davsync repair {}` to give it one)",
                self.place(side.other())
            ));
        }
        self.report(
            Failure::new(self.at.clone(), action, msg)
                .uid(ident)
                .kind(e.kind()),
        )
    }

    fn copied(&self, ident: &str, to: Side, update: bool) {
        let at = self.at.clone();
        let uid = ident.to_owned();
        let to = self.place(to).clone();
        self.emit(if update {
            Event::Updated { at, uid, to }
        } else {
            Event::Uploaded { at, uid, to }
        });
    }

    /// Writes `item` (the version of `from`, described by `src`) to the other side: an upload
    /// when `dst` is `None`, an update conditional on `dst`'s etag otherwise.
    pub(super) async fn copy(
        &self,
        ident: &str,
        from: Side,
        src: &Current,
        item: &Item,
        dst: Option<&Current>,
        retry: bool,
    ) -> Done {
        let to = from.other();
        let t = self.side(to);
        let src_state = SideState {
            href: src.href.clone(),
            etag: src.etag.clone(),
            hash: item.hash().clone(),
        };
        match dst {
            None => match t.storage.upload(&t.collection, item).await {
                Ok((href, etag)) => {
                    self.copied(ident, to, false);
                    self.record_equal(
                        &row(
                            ident,
                            to,
                            SideState {
                                href,
                                etag,
                                hash: item.hash().clone(),
                            },
                            Some(src_state),
                        ),
                        item,
                    )
                }
                // Created there meanwhile (another client, or a write of an interrupted run
                // the server finished after our listing): compare with what is there now.
                Err(e) if retry && e.kind() == ErrorKind::AlreadyExists => {
                    match t.storage.preferred_href(ident) {
                        Some(href) => {
                            let there = Current {
                                href: t.storage.listed_href(&t.collection, &href),
                                etag: Etag(String::new()),
                                hash: ContentHash::default(),
                                item: None,
                            };
                            Box::pin(self.after_precondition(ident, from, src, item, &there)).await
                        }
                        None => self.write_failed(ident, to, Write::Upload, &e, Some(item)),
                    }
                }
                Err(e) => self.write_failed(ident, to, Write::Upload, &e, Some(item)),
            },
            Some(d) => {
                if let Err(done) = self.keep_before(ident, to, d, Why::Overwritten).await {
                    return done;
                }
                self.update_to(ident, from, src, item, d, retry, src_state)
                    .await
            }
        }
    }

    /// The update half of [`Self::copy`], once the version it replaces is kept.
    #[allow(clippy::too_many_arguments)]
    async fn update_to(
        &self,
        ident: &str,
        from: Side,
        src: &Current,
        item: &Item,
        d: &Current,
        retry: bool,
        src_state: SideState,
    ) -> Done {
        let to = from.other();
        let t = self.side(to);
        {
            match t
                .storage
                .update(&t.collection, &d.href, item, &d.etag)
                .await
            {
                Ok(etag) => {
                    self.copied(ident, to, true);
                    self.record_equal(
                        &row(
                            ident,
                            to,
                            SideState {
                                href: d.href.clone(),
                                etag,
                                hash: item.hash().clone(),
                            },
                            Some(src_state),
                        ),
                        item,
                    )
                }
                Err(e) if retry && e.kind() == ErrorKind::PreconditionFailed => {
                    Box::pin(self.after_precondition(ident, from, src, item, d)).await
                }
                Err(e) if retry && e.kind() == ErrorKind::NotFound => {
                    // Deleted there meanwhile: the edit we carry beats that deletion.
                    Box::pin(self.copy(ident, from, src, item, None, false)).await
                }
                Err(e) => self.write_failed(ident, to, Write::Update, &e, Some(item)),
            }
        }
    }

    /// An update met a fresh etag: someone edited the item meanwhile. Re-read it and treat the
    /// two versions as a conflict, never overwriting the edit blindly.
    async fn after_precondition(
        &self,
        ident: &str,
        from: Side,
        src: &Current,
        item: &Item,
        dst: &Current,
    ) -> Done {
        let to = from.other();
        let t = self.side(to);
        match t.storage.get(&t.collection, &dst.href).await {
            Ok((now, etag)) => {
                let fresh = Current {
                    href: dst.href.clone(),
                    etag,
                    hash: now.hash().clone(),
                    item: Some(now),
                };
                let mut src = src.clone();
                src.item = Some(item.clone());
                if fresh.hash == *item.hash() {
                    return self
                        .record_equal(&row(ident, to, fresh.state(), Some(src.state())), item);
                }
                let (a, b) = match from {
                    Side::A => (src, fresh),
                    Side::B => (fresh, src),
                };
                Box::pin(self.conflict(ident, a, b, false, &Rows::default())).await
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Box::pin(self.copy(ident, from, src, item, None, false)).await
            }
            Err(e) => self.report(
                Failure::new(
                    self.at.clone(),
                    Action::Read,
                    format!(
                        "item {ident} changed on {} during the sync and could not be re-read: {}",
                        t.place,
                        super::describe(&e)
                    ),
                )
                .uid(ident)
                .href(dst.href.clone())
                .kind(e.kind()),
            ),
        }
    }

    pub(super) async fn delete(&self, ident: &str, side: Side, cur: &Current, retry: bool) -> Done {
        if let Err(done) = self.keep_before(ident, side, cur, Why::Deleted).await {
            return done;
        }
        let s = self.side(side);
        match s.storage.delete(&s.collection, &cur.href, &cur.etag).await {
            Ok(()) => {
                self.emit(Event::Deleted {
                    at: self.at.clone(),
                    uid: ident.to_owned(),
                    from: s.place.clone(),
                });
                self.forget(ident)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => self.forget(ident),
            Err(e) if retry && e.kind() == ErrorKind::PreconditionFailed => {
                // Edited meanwhile: the edit beats the deletion, it goes to the other side.
                match s.storage.get(&s.collection, &cur.href).await {
                    Ok((item, etag)) if !self.ctx.read_only[side.other()] => {
                        let now = Current {
                            href: cur.href.clone(),
                            etag,
                            hash: item.hash().clone(),
                            item: Some(item.clone()),
                        };
                        Box::pin(self.copy(ident, side, &now, &item, None, false)).await
                    }
                    Ok(_) => self.report(
                        Failure::new(
                            self.at.clone(),
                            Action::Delete,
                            format!(
                                "item {ident} changed on {} during the sync; not deleted",
                                s.place
                            ),
                        )
                        .uid(ident)
                        .kind(ErrorKind::PreconditionFailed),
                    ),
                    Err(e) if e.kind() == ErrorKind::NotFound => self.forget(ident),
                    Err(e) => self.write_failed(ident, side, Write::Delete, &e, None),
                }
            }
            Err(e) => self.write_failed(ident, side, Write::Delete, &e, None),
        }
    }

    pub(super) async fn conflict(
        &self,
        ident: &str,
        a: Current,
        b: Current,
        retry: bool,
        status: &Rows,
    ) -> Done {
        let (Some(ia), Some(ib)) = (a.item.clone(), b.item.clone()) else {
            return self.report(
                Failure::new(
                    self.at.clone(),
                    Action::Resolve,
                    format!(
                        "item {ident} in {}: conflict without both versions",
                        self.at
                    ),
                )
                .uid(ident),
            );
        };
        if ia.hash() == ib.hash() {
            return self.record_equal(
                &ItemRow {
                    ident: ident.to_owned(),
                    a: Some(a.state()),
                    b: Some(b.state()),
                },
                &ia,
            );
        }
        // A conflict's outcome is written to both sides: a read-only side can only win (or
        // be ignored).
        match policy::partial_sync(self.ctx.partial_sync, self.ctx.read_only, Side::BOTH) {
            Verdict::Proceed => {}
            Verdict::Skip => return Done::Ok,
            Verdict::Fail { ro } => {
                return self.problem(Some(ident.to_owned()), &Problem::ReadOnly { ro })
            }
            Verdict::Revert { ro } => {
                let (src, item, dst) = match ro {
                    Side::A => (&a, &ia, &b),
                    Side::B => (&b, &ib, &a),
                };
                return self.copy(ident, ro, src, item, Some(dst), retry).await;
            }
        }
        let base = if self.strategies.contains(&conflict::Strategy::Merge) {
            self.status.base(&self.name, ident).unwrap_or_else(|e| {
                tracing::warn!(uid = ident, "reading the merge base from the status: {e}");
                None
            })
        } else {
            None
        };
        match conflict::resolve(self.strategies, &ia, &ib, base.as_deref(), self.dry_run).await {
            Outcome::Unresolved { reason } => {
                self.emit(Event::Unresolved {
                    at: self.at.clone(),
                    uid: ident.to_owned(),
                    reason: reason.clone(),
                });
                Done::Unresolved(reason)
            }
            Outcome::Resolved {
                strategy,
                resolution,
            } => {
                let done = match resolution {
                    Resolution::Take(side) => {
                        let (src, item, dst) = match side {
                            Side::A => (&a, &ia, &b),
                            Side::B => (&b, &ib, &a),
                        };
                        self.copy(ident, side, src, item, Some(dst), retry).await
                    }
                    Resolution::KeepBoth { renamed } => {
                        self.keep_both(ident, &a, &ia, &b, &renamed, retry, status)
                            .await
                    }
                    Resolution::Merged(merged) => self.merged(ident, &a, &b, &merged).await,
                };
                if matches!(done, Done::Ok) {
                    self.emit(Event::Resolved {
                        at: self.at.clone(),
                        uid: ident.to_owned(),
                        strategy,
                    });
                }
                done
            }
        }
    }

    /// `keep both`: b's version goes to both sides under its fresh UID, then a's version
    /// replaces b's under the original UID. The fresh UID is derived from the content, and a
    /// copy the status already knows on a side is not made again, so repeating this after an
    /// interruption makes no duplicate.
    #[allow(clippy::too_many_arguments)]
    async fn keep_both(
        &self,
        ident: &str,
        a: &Current,
        ia: &Item,
        b: &Current,
        renamed: &Item,
        retry: bool,
        status: &Rows,
    ) -> Done {
        let new_ident = renamed.ident().to_owned();
        // Recorded before the first write: if this is cut off halfway, the next sync knows
        // the renamed copy is ours (see plan::finish_pending).
        if let Err(e) = self.status.set_pending(
            &self.name,
            &Pending {
                ident: ident.to_owned(),
                renamed: new_ident.clone(),
                b_hash: b.hash.clone(),
                renamed_hash: renamed.hash().clone(),
            },
        ) {
            return self.status_failed(&format!("recording item {ident} in the status"), e);
        }
        let mut row = status.get(&new_ident).cloned().unwrap_or(ItemRow {
            ident: new_ident.clone(),
            a: None,
            b: None,
        });
        for side in Side::BOTH {
            if row.side(side).is_some() {
                continue;
            }
            let s = self.side(side);
            match s.storage.upload(&s.collection, renamed).await {
                Ok((href, etag)) => {
                    self.copied(&new_ident, side, false);
                    row.set_side(
                        side,
                        Some(SideState {
                            href,
                            etag,
                            hash: renamed.hash().clone(),
                        }),
                    );
                    if let Done::Failed = self.record(&row) {
                        return Done::Failed;
                    }
                }
                // Made by an interrupted earlier run whose status row was lost: the next
                // sync finds it on both sides and records it.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return self.write_failed(&new_ident, side, Write::Upload, &e, Some(renamed))
                }
            }
        }
        let done = self.copy(ident, Side::A, a, ia, Some(b), retry).await;
        if matches!(done, Done::Ok) {
            self.journal
                .queue(RowChange::ClearPending(ident.to_owned()));
        }
        done
    }

    /// A merged version (from `merge` or `command`) replaces both sides' versions.
    async fn merged(&self, ident: &str, a: &Current, b: &Current, merged: &Item) -> Done {
        let mut row = ItemRow {
            ident: ident.to_owned(),
            a: None,
            b: None,
        };
        for (side, cur) in [(Side::A, a), (Side::B, b)] {
            if let Err(done) = self.keep_before(ident, side, cur, Why::Overwritten).await {
                return done;
            }
            let s = self.side(side);
            match s
                .storage
                .update(&s.collection, &cur.href, merged, &cur.etag)
                .await
            {
                Ok(etag) => {
                    self.copied(ident, side, true);
                    row.set_side(
                        side,
                        Some(SideState {
                            href: cur.href.clone(),
                            etag,
                            hash: merged.hash().clone(),
                        }),
                    );
                }
                Err(e) => return self.write_failed(ident, side, Write::Update, &e, Some(merged)),
            }
        }
        self.record_equal(&row, merged)
    }
}

/// The row of an item now at `this` on `side` and `other_state` on the other side.
fn row(ident: &str, side: Side, this: SideState, other_state: Option<SideState>) -> ItemRow {
    let mut row = ItemRow {
        ident: ident.to_owned(),
        a: None,
        b: None,
    };
    row.set_side(side, Some(this));
    row.set_side(side.other(), other_state);
    row
}

/// `<place>: malformed item <where>: <what is wrong> (not synced; fix or remove it)`, the
/// one wording of a malformed item. When the storage's description already begins with the
/// item's path or URL, the href is not repeated before it.
pub(super) fn malformed_message(place: &str, href: &Href, detail: &str) -> String {
    let names_it = detail
        .split(": ")
        .next()
        .is_some_and(|first| first.ends_with(href.as_str()));
    if names_it {
        format!("{place}: malformed item {detail} (not synced; fix or remove it)")
    } else {
        format!("{place}: malformed item {href}: {detail} (not synced; fix or remove it)")
    }
}
