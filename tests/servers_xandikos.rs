//! davsync against a real Xandikos server (installed by scripts/test into .venv).
//! Skipped loudly when Xandikos is missing; with CI=true a missing Xandikos fails.

mod common;

use common::dav_scenarios as sc;
use common::servers::{Coll, ServerKind::Xandikos};

#[test]
fn discovery_from_server_root_finds_calendars() {
    sc::discovery_from_server_root(Xandikos, Coll::Calendar);
}

#[test]
fn discovery_from_server_root_finds_address_books() {
    sc::discovery_from_server_root(Xandikos, Coll::AddressBook);
}

#[test]
fn caldav_and_vdir_sync_create_update_delete_conflict_both_ways() {
    sc::vdir_and_server_sync_both_ways(Xandikos, Coll::Calendar);
}

#[test]
fn carddav_and_vdir_sync_create_update_delete_conflict_both_ways() {
    sc::vdir_and_server_sync_both_ways(Xandikos, Coll::AddressBook);
}

#[test]
fn calendars_from_a_and_from_b_are_created_on_the_other_side() {
    sc::collections_created_both_ways(Xandikos, Coll::Calendar);
}

#[test]
fn address_books_from_a_and_from_b_are_created_on_the_other_side() {
    sc::collections_created_both_ways(Xandikos, Coll::AddressBook);
}

#[test]
fn metasync_copies_displayname_and_color_both_ways() {
    sc::metasync_both_ways(Xandikos);
}

#[test]
fn thousand_events_download_then_noop_then_one_change() {
    sc::thousand_events(Xandikos);
}
