//! The integration tests of the `davsync` crate, as one test binary (`cargo test --test it`).
//!
//! Each file of this folder is one module, named after the part of davsync it tests; a test is
//! selected by its path, e.g. `cargo test --test it cli_sync::` or
//! `cargo test --test it servers_radicale::tls_`. One binary instead of one per file because
//! every test binary links the whole dependency tree: with 30-odd of them a change to `src/`
//! cost a link of each on every test run (figures in docs/testing.md).
//!
//! To add a test file: create `tests/it/<name>.rs` and add `mod <name>;` below. Shared
//! helpers are modules too: `cli_util` (a sandbox for the binary) and `common` (tools,
//! servers, fixtures; shared with the two binaries that stay apart, see below), reached as
//! `use crate::common;`.
//!
//! `tests/servers_conformance.rs` (run alone by `scripts/test --server`) and `tests/soak.rs`
//! (run alone, in release, by `scripts/soak`) stay binaries of their own; docs/testing.md
//! says why.

mod cli_util;
#[path = "../common/mod.rs"]
mod common;

mod cli_args;
mod cli_check_online;
mod cli_config;
mod cli_conflicts;
mod cli_dav_href_case;
mod cli_http;
mod cli_lock;
mod cli_logs;
mod cli_merge;
mod cli_password;
mod cli_remembered;
mod cli_repair;
mod cli_resolve;
mod cli_safety;
mod cli_shell;
mod cli_status;
mod cli_sync;
mod cli_trash;
mod cli_trial_fixes;
mod cli_watch;
mod contrib_systemd;
mod crash_kill9;
mod crash_trash;
mod engine_props;
mod engine_vdir;
mod fault_injection;
mod fuzz_corpus;
mod interop_khal_khard;
mod migrate_vdirsyncer;
mod private_parts;
mod servers_radicale;
mod sync_whole_reads;
