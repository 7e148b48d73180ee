//! The command line, declared with clap's derive API.
//!
//! Usage lines are spelled out by hand (`override_usage`) because the documented synopsis
//! (`davsync [-c|--config PATH] [-v|--verbose]... [-q|--quiet] <COMMAND>`) is part of the
//! user contract and clap's generated `[OPTIONS]` form would hide it.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "davsync",
    version,
    about = "Synchronize calendars and address books between CalDAV/CardDAV servers and local folders",
    long_about = "Synchronize calendars and address books between CalDAV/CardDAV servers and local \
                  folders.\n\nThe config file is looked up in this order: --config, \
                  $DAVSYNC_CONFIG, $XDG_CONFIG_HOME/davsync/config.toml, \
                  ~/.config/davsync/config.toml.",
    override_usage = "davsync [-c|--config PATH] [-v|--verbose]... [-q|--quiet] <COMMAND>",
    after_help = "Exit codes: 0 everything synced; 1 at least one item or collection failed; \
                  2 usage or config error (nothing touched)."
)]
pub struct Cli {
    /// Path of the config file
    #[arg(short = 'c', long = "config", value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,

    /// More detail on stderr: -v info, -vv debug (each HTTP request)
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print only errors (no change lines)
    #[arg(short = 'q', long = "quiet", global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// How stderr is written: `text` for people, `json` for one JSON object per line
    #[arg(
        long = "log-format",
        value_name = "FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync all pairs, or the named ones (runs discovery itself when needed)
    #[command(override_usage = "davsync sync [PAIR[/COLLECTION]]... [--dry-run] [--force-delete]")]
    Sync(SyncArgs),

    /// Print the collections of each pair and create the missing ones
    #[command(override_usage = "davsync discover [PAIR]...")]
    Discover(PairsArgs),

    /// Sync the collection properties named in each pair's `metadata`
    #[command(override_usage = "davsync metasync [PAIR[/COLLECTION]]... [--dry-run]")]
    Metasync(MetasyncArgs),

    /// Give items without a UID, and duplicates of a UID, a fresh UID; rename vdir files
    /// whose name is not derived from the UID
    #[command(override_usage = "davsync repair STORAGE[/COLLECTION] [--dry-run]")]
    Repair(RepairArgs),

    /// Validate the config and print a one-line summary per pair; with --online, also ask
    /// each server storage what it supports
    #[command(override_usage = "davsync check [--online [STORAGE]...]")]
    Check(CheckArgs),

    /// Per pair and collection: items in status, time of the last sync, unresolved conflicts
    #[command(override_usage = "davsync status [PAIR]...")]
    Status(PairsArgs),

    /// Walk the unresolved conflicts one by one
    #[command(override_usage = "davsync resolve [PAIR[/COLLECTION]]... [--take a|b|both]")]
    Resolve(ResolveArgs),

    /// The versions that syncs replaced or deleted, and putting one back
    #[command(
        subcommand,
        override_usage = "davsync trash list [PAIR]...\n       davsync trash restore ID..."
    )]
    Trash(TrashCommand),

    /// Stay running and keep the pairs in sync: local changes at once, remote ones every
    /// `interval` seconds
    #[command(override_usage = "davsync watch [PAIR]... [--ready-fd FD]")]
    Watch(WatchArgs),

    /// Convert a vdirsyncer setup: write the equivalent davsync config and import
    /// vdirsyncer's status
    #[command(override_usage = "davsync import-vdirsyncer [--from PATH] [--to PATH] [--force]")]
    ImportVdirsyncer(ImportArgs),

    /// Print a completion script for bash, zsh, fish, elvish or powershell
    #[command(override_usage = "davsync completions SHELL")]
    Completions(CompletionsArgs),

    /// Print the man page (roff)
    #[command(override_usage = "davsync man")]
    Man,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Pairs whose conflicts to walk, optionally restricted to one collection (default: all)
    #[arg(value_name = "PAIR[/COLLECTION]")]
    pub targets: Vec<String>,

    /// Resolve every conflict without asking: take a's version, b's, or keep both
    #[arg(long, value_enum, value_name = "a|b|both")]
    pub take: Option<Take>,
}

/// The answer `--take` gives to every conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Take {
    A,
    B,
    Both,
}

#[derive(Debug, Subcommand)]
pub enum TrashCommand {
    /// One line per kept version, newest first
    #[command(override_usage = "davsync trash list [PAIR]...")]
    List(PairsArgs),

    /// Write kept versions back to the storage they were taken from
    #[command(override_usage = "davsync trash restore ID...")]
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// IDs of kept versions, as `davsync trash list` prints them
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Pairs to keep in sync (default: all pairs)
    #[arg(value_name = "PAIR")]
    pub pairs: Vec<String>,

    /// Write `READY=1` and a newline to this inherited file descriptor, then close it, once
    /// the config is read and the credentials fetched (for service managers without
    /// NOTIFY_SOCKET)
    #[arg(long, value_name = "FD")]
    pub ready_fd: Option<i32>,
}

/// The format of stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// vdirsyncer's config (default: $VDIRSYNCER_CONFIG, $XDG_CONFIG_HOME/vdirsyncer/config,
    /// ~/.vdirsyncer/config)
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,

    /// The davsync config to write (default: where davsync looks for its config)
    #[arg(long, value_name = "PATH")]
    pub to: Option<PathBuf>,

    /// Overwrite an existing davsync config, and replace an existing davsync status of the
    /// imported pairs
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Connect to each CalDAV/CardDAV storage (or the named ones) and print what the server
    /// supports
    #[arg(long)]
    pub online: bool,

    /// Storages to check online (default: every caldav/carddav storage)
    #[arg(value_name = "STORAGE", requires = "online")]
    pub storages: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Pairs to sync, optionally restricted to one collection (default: all pairs)
    #[arg(value_name = "PAIR[/COLLECTION]")]
    pub targets: Vec<String>,

    /// Print the planned actions and change nothing anywhere (no storage, no status)
    #[arg(long)]
    pub dry_run: bool,

    /// Delete the items of a collection that vanished on the other side (or whose other side
    /// was emptied), and the emptied collection
    #[arg(long)]
    pub force_delete: bool,
}

#[derive(Debug, Args)]
pub struct PairsArgs {
    /// Pairs to act on (default: all pairs)
    #[arg(value_name = "PAIR")]
    pub pairs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CollectionsArgs {
    /// Pairs to act on, optionally restricted to one collection (default: all pairs)
    #[arg(value_name = "PAIR[/COLLECTION]")]
    pub targets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MetasyncArgs {
    /// Pairs to act on, optionally restricted to one collection (default: all pairs)
    #[arg(value_name = "PAIR[/COLLECTION]")]
    pub targets: Vec<String>,

    /// Print the metadata changes it would make (prefixed `Would: `) and change nothing
    /// (no storage, no status)
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The storage to repair, optionally restricted to one collection
    #[arg(value_name = "STORAGE[/COLLECTION]")]
    pub target: String,

    /// Print the changes and make none
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_declaration_is_consistent() {
        Cli::command().debug_assert();
    }
}
