//! The same scenarios against every server (13, and `check --online`): Radicale and Xandikos (from the test venv), and
//! DAViCal, Cyrus, SabreDAV, SOGo and Calypso (Debian packages, tests/servers/). Each server
//! is one module, so `cargo test --test servers_conformance cyrus::` runs one server
//! (`scripts/test --server cyrus`). What a server does differently is declared in
//! tests/common/conformance.rs, and nowhere else.

mod common;

use common::conformance as cf;
use common::dav_scenarios as sc;
use common::servers::{Coll, ServerKind};

macro_rules! conformance {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::*;
            const KIND: ServerKind = $kind;

            #[test]
            fn discovery_finds_the_calendars() {
                cf::discovery_finds_or_declared(KIND, Coll::Calendar);
            }

            #[test]
            fn discovery_finds_the_address_books() {
                cf::discovery_finds_or_declared(KIND, Coll::AddressBook);
            }

            #[test]
            fn events_created_edited_deleted_and_in_conflict_both_ways() {
                sc::vdir_and_server_sync_both_ways(KIND, Coll::Calendar);
            }

            #[test]
            fn cards_created_edited_deleted_and_in_conflict_both_ways() {
                sc::vdir_and_server_sync_both_ways(KIND, Coll::AddressBook);
            }

            #[test]
            fn recurring_events_with_override_and_timezone_both_ways() {
                cf::recurring_events_both_ways(KIND);
            }

            #[test]
            fn a_conflict_without_strategy_overwrites_nothing() {
                cf::conflict_without_strategy_overwrites_nothing(KIND, Coll::Calendar);
            }

            #[test]
            fn calendars_created_both_ways() {
                cf::collections_created_or_refused(KIND, Coll::Calendar);
            }

            #[test]
            fn address_books_created_both_ways() {
                cf::collections_created_or_refused(KIND, Coll::AddressBook);
            }

            #[test]
            fn metasync_both_ways() {
                cf::metasync_or_refused(KIND);
            }

            #[test]
            fn thousand_events() {
                sc::thousand_events(KIND);
            }

            #[test]
            fn kill9_during_a_500_item_upload_converges() {
                cf::kill9_during_upload_converges(KIND);
            }

            #[test]
            fn check_online_reports_the_declared_capabilities() {
                cf::check_online_reports_the_declared_capabilities(KIND);
            }

            #[test]
            fn unchanged_calendar_check_is_the_declared_one() {
                cf::unchanged_check_is_the_declared_one(KIND, Coll::Calendar);
            }

            #[test]
            fn unchanged_address_book_check_is_the_declared_one() {
                cf::unchanged_check_is_the_declared_one(KIND, Coll::AddressBook);
            }
        }
    };
}

conformance!(radicale, ServerKind::Radicale);
conformance!(xandikos, ServerKind::Xandikos);
conformance!(davical, ServerKind::Davical);
conformance!(cyrus, ServerKind::Cyrus);
conformance!(sabredav, ServerKind::Sabredav);
conformance!(sogo, ServerKind::Sogo);
conformance!(calypso, ServerKind::Calypso);
