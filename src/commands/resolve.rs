//! `davsync resolve [PAIR[/COLLECTION]]... [--take a|b|both]`: the unresolved conflicts of
//! the last syncs, one by one.
//!
//! For each conflict the two versions are read again (where the status last saw them, or
//! where the storage keeps that UID), their normalized diff is shown, and the choice is
//! written at once: every overwrite keeps the replaced version in the trash first and is
//! conditional on the etag just read, so an edit made meanwhile is never lost (the item then
//! fails and stays a conflict). The status then records the item as synced, with the chosen
//! text as the base of later merges, and forgets the conflict.
//!
//! Without a terminal and without `--take` nothing is asked and nothing is touched (exit 2).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use davsync_storages::{Collection, Etag, Href, Item, Storage};

use super::{exit_code, select};
use crate::cli::{ResolveArgs, Take};
use crate::config::{backends, Config};
use crate::diff::item_diff;
use crate::output::CliReporter;
use crate::status::{ItemRow, RowChange, SideState, Status};
use crate::sync::conflict::{fresh_uid, three_way, Resolution};
use crate::sync::keep;
use crate::sync::{BySide, PairSpec, Place, Side};
use crate::trash::{Origin, Trash, Why};

/// One version of a conflicting item, where it is now.
struct Version {
    side: Side,
    storage: Arc<dyn Storage>,
    collection: Collection,
    place: Place,
    href: Href,
    etag: Etag,
    item: Item,
}

/// What the user (or `--take`) chose.
enum Choice {
    Take(Side),
    KeepBoth,
    Write(Item),
    Skip,
    Quit,
}

pub async fn run(config: &Config, args: &ResolveArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let targets = select(config, &args.targets, true)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if args.take.is_none() && !interactive {
        anyhow::bail!(
            "resolve asks on a terminal, and there is none; use `--take a`, `--take b` or \
             `--take both` to resolve every conflict the same way"
        );
    }
    let mut builder = backends::Builder::new(config);
    let mut specs = Vec::new();
    for t in &targets {
        specs.push((builder.pair_spec(t.pair)?, t.only.clone()));
    }
    let out = CliReporter::new(false, quiet);
    let trash = super::trash::trash_of(config);
    'pairs: for (pair, only) in &specs {
        let status = match Status::open(&config.status_path, &pair.name) {
            Ok(s) => s,
            Err(e) => {
                out.failure(&format!("pair {}: opening the status: {e}", pair.name));
                continue;
            }
        };
        let collections = status.collections().unwrap_or_default();
        for row in collections {
            if let Some(only) = only {
                if !only.contains(&row.name) {
                    continue;
                }
            }
            let conflicts = status.conflicts(&row.name).unwrap_or_default();
            for (ident, _reason) in conflicts {
                let ctx = Ctx {
                    pair,
                    status: &status,
                    name: &row.name,
                    trash: &trash,
                    out: &out,
                    quiet,
                };
                let hrefs = BySide::new(row.a_href.clone(), row.b_href.clone());
                match ctx.one(&ident, hrefs, args.take).await {
                    Ok(true) => {}
                    Ok(false) => break 'pairs,
                    Err(msg) => out.failure(&format!(
                        "item {ident} in {}: {msg}",
                        scope(pair, &row.name)
                    )),
                }
            }
        }
    }
    out.finish();
    Ok(exit_code(out.failures()))
}

fn scope(pair: &PairSpec, collection: &str) -> String {
    crate::sync::scope(pair, collection).to_string()
}

struct Ctx<'a> {
    pair: &'a PairSpec,
    status: &'a Status,
    name: &'a str,
    trash: &'a Trash,
    out: &'a CliReporter,
    quiet: bool,
}

impl Ctx<'_> {
    fn line(&self, line: &str) {
        if !self.quiet {
            self.out.line(line);
        }
    }

    /// Resolves one conflict; `Ok(false)` when the user quit.
    async fn one(
        &self,
        ident: &str,
        hrefs: BySide<Option<String>>,
        take: Option<Take>,
    ) -> Result<bool, String> {
        let row = self
            .status
            .items(self.name)
            .map_err(|e| e.to_string())?
            .get(ident)
            .cloned();
        let a = self
            .version(Side::A, ident, hrefs.a.as_deref(), row.as_ref())
            .await?;
        let b = self
            .version(Side::B, ident, hrefs.b.as_deref(), row.as_ref())
            .await?;
        if a.item.hash() == b.item.hash() {
            // Made equal meanwhile: nothing left to resolve.
            self.record(ident, &a, &b, &a.item)?;
            return Ok(true);
        }
        let base = self.status.base(self.name, ident).ok().flatten();
        let merged = match three_way(base.as_deref(), &a.item, &b.item) {
            Ok(Resolution::Merged(m)) => Some(m),
            Ok(Resolution::Take(Side::A)) => Some(a.item.clone()),
            Ok(Resolution::Take(Side::B)) => Some(b.item.clone()),
            _ => None,
        };
        let choice = match take {
            Some(Take::A) => Choice::Take(Side::A),
            Some(Take::B) => Choice::Take(Side::B),
            Some(Take::Both) => Choice::KeepBoth,
            None => self.ask(ident, &a, &b, merged.as_ref())?,
        };
        match choice {
            Choice::Skip => Ok(true),
            Choice::Quit => Ok(false),
            Choice::Take(Side::A) => self.write_both(ident, &a, &b, &a.item).await.map(|_| true),
            Choice::Take(Side::B) => self.write_both(ident, &a, &b, &b.item).await.map(|_| true),
            Choice::Write(item) => self.write_both(ident, &a, &b, &item).await.map(|_| true),
            Choice::KeepBoth => self.keep_both(ident, &a, &b).await.map(|_| true),
        }
    }

    /// Finds and reads one side's version: where the status last saw it, else where the
    /// storage would keep that UID, else by reading the collection.
    async fn version(
        &self,
        side: Side,
        ident: &str,
        coll_href: Option<&str>,
        row: Option<&ItemRow>,
    ) -> Result<Version, String> {
        let handle = if side == Side::A {
            &self.pair.a
        } else {
            &self.pair.b
        };
        let storage = handle.storage.clone();
        let collection = match coll_href {
            Some(href) => Collection {
                href: href.to_owned(),
                name: self.name.to_owned(),
            },
            None => storage.root_collection().await.map_err(|e| e.to_string())?,
        };
        let place = crate::sync::place(self.pair, &handle.name, self.name);
        let known = row
            .and_then(|r| r.side(side))
            .map(|s| s.href.clone())
            .or_else(|| {
                // In the listed form: this href may end up in the status.
                storage
                    .preferred_href(ident)
                    .map(|h| storage.listed_href(&collection, &h))
            });
        if let Some(href) = known {
            if let Ok((item, etag)) = storage.get(&collection, &href).await {
                if item.ident() == ident {
                    return Ok(Version {
                        side,
                        storage,
                        collection,
                        place,
                        href,
                        etag,
                        item,
                    });
                }
            }
        }
        let listing = storage.list(&collection).await.map_err(|e| e.to_string())?;
        let hrefs: Vec<Href> = listing.into_iter().map(|r| r.href).collect();
        let fetched = storage
            .get_many(&collection, &hrefs)
            .await
            .map_err(|e| e.to_string())?;
        for (href, res) in fetched {
            if let Ok((item, etag)) = res {
                if item.ident() == ident {
                    return Ok(Version {
                        side,
                        storage,
                        collection,
                        place,
                        href,
                        etag,
                        item,
                    });
                }
            }
        }
        Err(format!(
            "not found on {place} any more; the next sync settles it"
        ))
    }

    fn ask(
        &self,
        ident: &str,
        a: &Version,
        b: &Version,
        merged: Option<&Item>,
    ) -> Result<Choice, String> {
        let mut stdout = std::io::stdout().lock();
        let diff = item_diff(
            &a.item,
            &format!("{} ({})", a.place, a.href),
            &b.item,
            &format!("{} ({})", b.place, b.href),
        );
        let prompt = if merged.is_some() {
            "[a]/[b]/[m]erge/[k]eep both/[e]dit/[s]kip/[q]uit? "
        } else {
            "[a]/[b]/[k]eep both/[e]dit/[s]kip/[q]uit? "
        };
        let _ = writeln!(
            stdout,
            "Conflict: item {ident} in {}\n{diff}",
            scope(self.pair, self.name)
        );
        let stdin = std::io::stdin();
        loop {
            let _ = write!(stdout, "{prompt}");
            let _ = stdout.flush();
            let mut answer = String::new();
            match stdin.lock().read_line(&mut answer) {
                Ok(0) | Err(_) => return Ok(Choice::Quit),
                Ok(_) => {}
            }
            match answer.trim() {
                "a" => return Ok(Choice::Take(Side::A)),
                "b" => return Ok(Choice::Take(Side::B)),
                "m" if merged.is_some() => {
                    return Ok(Choice::Write(merged.cloned().expect("checked")))
                }
                "k" => return Ok(Choice::KeepBoth),
                "e" => {
                    let draft = merged.unwrap_or(&a.item);
                    match edit(draft) {
                        Ok(item) if item.ident() == ident => return Ok(Choice::Write(item)),
                        Ok(item) => {
                            let _ = writeln!(
                                stdout,
                                "the edited version has UID {} instead of {ident}",
                                item.ident()
                            );
                        }
                        Err(e) => {
                            let _ = writeln!(stdout, "{e}");
                        }
                    }
                }
                "s" => return Ok(Choice::Skip),
                "q" => return Ok(Choice::Quit),
                _ => {}
            }
        }
    }

    /// Keeps `v`'s current version in the trash before it is replaced.
    async fn keep(&self, ident: &str, v: &Version, why: Why) -> Result<(), String> {
        if !self.trash.keeps() {
            return Ok(());
        }
        let origin = Origin {
            pair: self.pair.name.clone(),
            collection: if self.pair.collections.is_some() {
                self.name.to_owned()
            } else {
                String::new()
            },
            storage: v.place.storage.to_string(),
            collection_href: v.collection.href.clone(),
            collection_name: v.collection.name.clone(),
            href: v.href.clone(),
            etag: Some(v.etag.clone()),
            uid: ident.to_owned(),
            why,
            kind: v.item.kind(),
        };
        keep::save(self.trash, origin, &v.item)
            .await
            .map_err(|e| format!("not written, the current version could not be kept first: {e}"))
    }

    /// Writes `item` over both versions (a side already holding it is left alone).
    async fn write_both(
        &self,
        ident: &str,
        a: &Version,
        b: &Version,
        item: &Item,
    ) -> Result<(), String> {
        let mut states = BySide::new(None, None);
        for v in [a, b] {
            if v.item.hash() == item.hash() {
                states[v.side] = Some(SideState {
                    href: v.href.clone(),
                    etag: v.etag.clone(),
                    hash: v.item.hash().clone(),
                });
                continue;
            }
            self.keep(ident, v, Why::Overwritten).await?;
            let etag = v
                .storage
                .update(&v.collection, &v.href, item, &v.etag)
                .await
                .map_err(|e| {
                    format!("Copying (updating) item {ident} to {} failed: {e}", v.place)
                })?;
            v.storage.flush().await.map_err(|e| e.to_string())?;
            self.line(&format!("Copying (updating) item {ident} to {}", v.place));
            states[v.side] = Some(SideState {
                href: v.href.clone(),
                etag,
                hash: item.hash().clone(),
            });
        }
        let row = ItemRow {
            ident: ident.to_owned(),
            a: states.a,
            b: states.b,
        };
        self.commit(row, item)
    }

    /// `keep both`: b's version under a fresh UID lands on both sides, a's version replaces
    /// b's under the original UID.
    async fn keep_both(&self, ident: &str, a: &Version, b: &Version) -> Result<(), String> {
        let Some(uid) = b.item.uid() else {
            return Err("the item has no UID, so it cannot be kept twice".into());
        };
        let renamed = b.item.with_uid(&fresh_uid(uid, b.item.hash()));
        let mut states = BySide::new(None, None);
        for v in [a, b] {
            let (href, etag) = v
                .storage
                .upload(&v.collection, &renamed)
                .await
                .map_err(|e| {
                    format!(
                        "Copying (uploading) item {} to {} failed: {e}",
                        renamed.ident(),
                        v.place
                    )
                })?;
            v.storage.flush().await.map_err(|e| e.to_string())?;
            self.line(&format!(
                "Copying (uploading) item {} to {}",
                renamed.ident(),
                v.place
            ));
            states[v.side] = Some(SideState {
                href,
                etag,
                hash: renamed.hash().clone(),
            });
        }
        let copy = ItemRow {
            ident: renamed.ident().to_owned(),
            a: states.a,
            b: states.b,
        };
        self.commit(copy, &renamed)?;
        self.write_both(ident, a, b, &a.item).await
    }

    fn record(&self, ident: &str, a: &Version, b: &Version, item: &Item) -> Result<(), String> {
        let state = |v: &Version| SideState {
            href: v.href.clone(),
            etag: v.etag.clone(),
            hash: v.item.hash().clone(),
        };
        let row = ItemRow {
            ident: ident.to_owned(),
            a: Some(state(a)),
            b: Some(state(b)),
        };
        self.commit(row, item)
    }

    /// Records the item as synced (with `base`) and forgets its conflict.
    fn commit(&self, row: ItemRow, base: &Item) -> Result<(), String> {
        let ident = row.ident.clone();
        self.status
            .apply(
                self.name,
                &[
                    RowChange::Put(row),
                    RowChange::Base {
                        ident: ident.clone(),
                        content: base.raw().to_vec(),
                    },
                ],
            )
            .and_then(|()| self.status.clear_conflict(self.name, &ident))
            .map_err(|e| format!("recording it in the status: {e}"))
    }
}

/// Opens `$VISUAL` (or `$EDITOR`, or `vi`) on `draft` and reads the result back.
fn edit(draft: &Item) -> Result<Item, String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let ext = match draft.kind() {
        davsync_storages::ItemKind::Calendar => ".ics",
        davsync_storages::ItemKind::Contacts => ".vcf",
    };
    let file = tempfile::Builder::new()
        .suffix(ext)
        .tempfile()
        .map_err(|e| format!("creating a draft file: {e}"))?;
    std::fs::write(file.path(), draft.raw()).map_err(|e| format!("writing the draft: {e}"))?;
    let mut words = editor.split_whitespace();
    let prog = words.next().unwrap_or("vi");
    let status = std::process::Command::new(prog)
        .args(words)
        .arg(file.path())
        .status()
        .map_err(|e| format!("running {editor}: {e}"))?;
    if !status.success() {
        return Err(format!("{editor} exited with {status}; nothing written"));
    }
    let text = std::fs::read(file.path()).map_err(|e| format!("reading the draft: {e}"))?;
    Item::parse(draft.kind(), text).map_err(|e| format!("the edited version does not parse: {e}"))
}
