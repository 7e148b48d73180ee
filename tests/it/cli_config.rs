//! Config errors: exit 2, file:line:column, the key, a caret under the value, nothing
//! touched. And `check` on valid configs, including the shipped example.

use crate::cli_util;

use cli_util::{two_vdirs, Env, Run};

/// Runs `check` and `sync` on the config: both must exit 2 with the same message, and
/// nothing may have been created.
fn config_error(env: &Env) -> Run {
    let before = env.snapshot();
    let check = env.run(&["check"]);
    check.assert_code(2);
    assert!(check.stdout.is_empty(), "{}", check.stdout);
    let sync = env.run(&["sync"]);
    sync.assert_code(2);
    assert_eq!(sync.stderr, check.stderr);
    cli_util::assert_unchanged(&before, &env.snapshot(), "a config error touched files");
    check
}

/// Asserts the cargo-style location block: ` --> FILE:LINE:COL`, the line, the caret.
#[track_caller]
fn assert_points_at(r: &Run, env: &Env, line: usize, col: usize, line_text: &str, caret: &str) {
    let loc = format!("--> {}:{line}:{col}", env.config_path().display());
    assert!(r.stderr.contains(&loc), "no `{loc}` in\n{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.ends_with(&format!("| {line_text}")) && l.starts_with(&line.to_string()))
        .unwrap_or_else(|| panic!("no snippet line `{line} | {line_text}` in\n{}", r.stderr));
    let caret_line = lines[i + 1];
    let offset = lines[i].find("| ").unwrap() + 2 + (col - 1);
    assert_eq!(
        &caret_line[offset..],
        caret,
        "caret misplaced in\n{}",
        r.stderr
    );
}

#[test]
fn misspelled_key_read_onyl_is_refused_with_location_and_caret() {
    let env = Env::new();
    env.config(
        "[storage.a]\ntype = \"vdir\"\npath = \"a\"\nfileext = \".ics\"\nread_onyl = true\n\n\
         [storage.b]\ntype = \"vdir\"\npath = \"b\"\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
    );
    let r = config_error(&env);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: storage.a.read_onyl: unknown field `read_onyl`, expected one of"),
        "{}",
        r.stderr
    );
    // status_path is prepended by the helper: 3 lines.
    assert_points_at(&r, &env, 8, 1, "read_onyl = true", "^^^^^^^^^");
}

#[test]
fn pair_naming_a_missing_storage_is_refused() {
    let env = Env::new();
    env.config(
        "[storage.a]\ntype = \"vdir\"\npath = \"a\"\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"nope\"\n",
    );
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("pair.p.b: no storage named \"nope\" (configured storages: a)"),
        "{}",
        r.stderr
    );
    assert_points_at(&r, &env, 11, 5, "b = \"nope\"", "^^^^^^");
}

#[test]
fn unknown_storage_type_is_refused_listing_the_types() {
    let env = Env::new();
    env.config(&two_vdirs("").replacen("type = \"vdir\"", "type = \"webdav\"", 1));
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("storage.a.type: unknown storage type \"webdav\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("\"caldav\""));
    assert_points_at(&r, &env, 5, 8, "type = \"webdav\"", "^^^^^^^^");
}

#[test]
fn unknown_strategy_is_refused() {
    let env = Env::new();
    env.config(&two_vdirs(
        "conflict_resolution = [\"newer wins\", \"c wins\"]",
    ));
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("pair.p.conflict_resolution: unknown strategy \"c wins\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(":17:23"), "{}", r.stderr);
}

#[test]
fn command_strategy_with_unknown_key_is_refused() {
    let env = Env::new();
    env.config(&two_vdirs("conflict_resolution = { cmd = [\"vimdiff\"] }"));
    let r = config_error(&env);
    assert!(r.stderr.contains("unknown field `cmd`"), "{}", r.stderr);
    assert!(r.stderr.contains(":17:"), "{}", r.stderr);
}

#[test]
fn bad_partial_sync_is_refused() {
    let env = Env::new();
    env.config(&two_vdirs("partial_sync = \"sometimes\""));
    let r = config_error(&env);
    assert!(
        r.stderr.contains(
            "pair.p.partial_sync: unknown value \"sometimes\" (expected \"revert\", \"error\" or \"ignore\")"
        ),
        "{}",
        r.stderr
    );
    assert_points_at(
        &r,
        &env,
        17,
        16,
        "partial_sync = \"sometimes\"",
        "^^^^^^^^^^^",
    );
}

fn caldav_pair(storage_extra: &str) -> String {
    format!(
        "[storage.local]\ntype = \"vdir\"\npath = \"local\"\nfileext = \".ics\"\n\n\
         [storage.remote]\ntype = \"caldav\"\nurl = \"https://dav.example.com/\"\n{storage_extra}\n\n\
         [pair.p]\na = \"local\"\nb = \"remote\"\n"
    )
}

#[test]
fn start_date_yesterday_is_refused() {
    let env = Env::new();
    env.config(&caldav_pair("start_date = \"yesterday\""));
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("storage.remote.start_date: invalid date \"yesterday\""),
        "{}",
        r.stderr
    );
    assert_points_at(
        &r,
        &env,
        12,
        14,
        "start_date = \"yesterday\"",
        "^^^^^^^^^^^",
    );
}

#[test]
fn relative_and_iso_dates_are_accepted() {
    let env = Env::new();
    env.config(&caldav_pair(
        "start_date = \"-30d\"\nend_date = \"2030-01-01T00:00:00Z\"",
    ));
    env.run(&["check"]).assert_code(0);
    env.config(&caldav_pair(
        "start_date = 2024-01-01\nend_date = \"+365d\"",
    ));
    env.run(&["check"]).assert_code(0);
}

#[test]
fn sha1_fingerprint_pin_is_refused() {
    let env = Env::new();
    let sha1 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01";
    env.config(&caldav_pair(&format!("verify_fingerprint = \"{sha1}\"")));
    let r = config_error(&env);
    assert!(
        r.stderr.contains("storage.remote.verify_fingerprint:") && r.stderr.contains("SHA-1"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(":12:22"), "{}", r.stderr);
}

#[test]
fn malformed_fingerprint_is_refused() {
    let env = Env::new();
    env.config(&caldav_pair("verify_fingerprint = \"sha256:nothex\""));
    let r = config_error(&env);
    assert!(
        r.stderr.contains("storage.remote.verify_fingerprint:"),
        "{}",
        r.stderr
    );
}

#[test]
fn sha256_fingerprint_in_any_spelling_is_accepted() {
    let env = Env::new();
    let hex = "ab".repeat(32);
    let colons: Vec<String> = (0..32).map(|_| "AB".to_owned()).collect();
    for fp in [
        hex.clone(),
        format!("sha256:{}", colons.join(":")),
        hex.to_uppercase(),
    ] {
        env.config(&caldav_pair(&format!("verify_fingerprint = \"{fp}\"")));
        env.run(&["check"]).assert_code(0);
    }
}

#[test]
fn key_of_another_storage_type_is_refused() {
    let env = Env::new();
    env.config(
        "[storage.a]\ntype = \"vdir\"\npath = \"a\"\nfileext = \".ics\"\nurl = \"https://x/\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = \"b\"\nfileext = \".ics\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
    );
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("storage.a.url: key `url` is not valid for a storage of type \"vdir\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(":8:7"), "{}", r.stderr);
}

#[test]
fn caldav_paired_with_carddav_is_refused() {
    let env = Env::new();
    env.config(
        "[storage.cal]\ntype = \"caldav\"\nurl = \"https://dav.example.com/\"\n\n\
         [storage.card]\ntype = \"carddav\"\nurl = \"https://dav.example.com/\"\n\n\
         [pair.p]\na = \"cal\"\nb = \"card\"\n",
    );
    let r = config_error(&env);
    assert!(
        r.stderr.contains(
            "pair.p: storage \"cal\" (caldav) holds calendars but storage \"card\" (carddav) holds contacts"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn vcf_vdir_paired_with_caldav_is_refused() {
    let env = Env::new();
    env.config(&caldav_pair("").replace("\".ics\"", "\".vcf\""));
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("holds contacts but storage \"remote\" (caldav) holds calendars"),
        "{}",
        r.stderr
    );
}

#[test]
fn toml_syntax_error_is_located() {
    let env = Env::new();
    env.config("[storage.a\ntype = \"vdir\"\n");
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains(&format!("--> {}:4:", env.config_path().display())),
        "{}",
        r.stderr
    );
}

#[test]
fn every_error_is_reported_in_file_order() {
    let env = Env::new();
    env.config(
        &two_vdirs("partial_sync = \"x\"\nconflict_resolution = \"y\"")
            .replace("path = \"a\"", "path = \"a\"\nauth = \"basic\""),
    );
    let r = config_error(&env);
    let auth = r.stderr.find("storage.a.auth").expect("auth error");
    let ps = r
        .stderr
        .find("pair.p.partial_sync")
        .expect("partial_sync error");
    let cr = r
        .stderr
        .find("pair.p.conflict_resolution")
        .expect("strategy error");
    assert!(auth < ps && ps < cr, "{}", r.stderr);
}

#[test]
fn undefined_variable_in_path_is_refused() {
    let env = Env::new();
    env.config(&two_vdirs("").replace("path = \"a\"", "path = \"$DAVSYNC_TEST_UNDEFINED/a\""));
    let r = config_error(&env);
    assert!(
        r.stderr.contains("storage.a.path: cannot expand"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("DAVSYNC_TEST_UNDEFINED is not set"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_collections_entry_is_refused() {
    let env = Env::new();
    env.config(&two_vdirs("collections = [\"from a\", [\"x\", \"y\"]]"));
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("a mapped collection is a list of three names"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(":17:26"), "{}", r.stderr);
}

#[test]
fn password_table_needs_exactly_one_source() {
    let env = Env::new();
    env.config(&caldav_pair(
        "password.env = \"X\"\npassword.command = [\"pass\"]",
    ));
    let r = config_error(&env);
    assert!(
        r.stderr.contains(
            "storage.remote.password: expected exactly one of `command`, `env` or `keyring`"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(":12:1"), "{}", r.stderr);
}

#[test]
fn check_prints_one_line_per_pair() {
    let env = Env::new();
    env.config(
        "[storage.cal_local]\ntype = \"vdir\"\npath = \"~/cal\"\nfileext = \".ics\"\n\n\
         [storage.cal_remote]\ntype = \"caldav\"\nurl = \"https://dav.example.com/\"\n\
         username = \"alice\"\npassword.command = [\"sh\", \"-c\", \"touch ran; echo pw\"]\n\n\
         [storage.feed]\ntype = \"http\"\nurl = \"webcal://example.com/holidays.ics\"\n\n\
         [pair.calendars]\na = \"cal_local\"\nb = \"cal_remote\"\n\
         collections = [\"from a\", \"from b\", [\"work\", \"w\", \"Work\"]]\n\
         conflict_resolution = [\"newer wins\", \"b wins\"]\n\n\
         [pair.holidays]\na = \"feed\"\nb = \"cal_local\"\n",
    );
    let r = env.run(&["check"]);
    r.assert_code(0);
    assert_eq!(
        r.lines(),
        [
            "pair calendars: cal_local (vdir) <-> cal_remote (caldav), collections: from a, from b, work (w <-> Work)",
            "pair holidays: feed (http) <-> cal_local (vdir), collections: none (the storages themselves)",
        ]
    );
    assert!(!env.path("ran").exists(), "check ran a password command");
    assert!(!env.path("status").exists());
}

#[test]
fn shipped_example_config_checks() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let env = Env::new();
    let r = env.run_raw(&["-c", example, "check"]);
    r.assert_code(0);
    assert_eq!(
        r.lines(),
        [
            "pair demo_calendars: sample_calendars (vdir, read-only) <-> demo_calendars (vdir), collections: from a",
            "pair demo_contacts: sample_contacts (vdir, read-only) <-> demo_contacts (vdir), collections: from a",
        ]
    );
}

/// The commented options of the example are real: uncommenting them gives a valid config.
#[test]
fn shipped_example_commented_options_are_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
        .unwrap();
    let mut out = String::new();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# ") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let key = rest.split('=').next().unwrap_or("").trim();
        let looks_like_toml = rest.starts_with('[')
            || (rest.contains(" = ") && !key.contains(' ') && !key.is_empty());
        // Keep one spelling of each key per table: `password` has four alternatives.
        let root = key.split('.').next().unwrap_or(key).to_owned();
        if rest.starts_with('[') {
            seen.clear();
        }
        if looks_like_toml && (rest.starts_with('[') || seen.insert(root)) {
            let value = rest.split(" # ").next().unwrap();
            out.push_str(value.replace("sha256:AB:CD:...", &"ab".repeat(32)).as_str());
            out.push('\n');
        }
    }
    let env = Env::new();
    std::fs::write(env.config_path(), &out).unwrap();
    // The folders the example's local storages live in (as in the repository, and the
    // user's ~/calendars of the singlefile example).
    for dir in ["docs/examples", "demo", "home/calendars"] {
        std::fs::create_dir_all(env.path(dir)).unwrap();
    }
    let r = env.run(&["check"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains(
            "pair calendars: cal_local (vdir) <-> cal_remote (caldav), collections: from a, from b"
        ),
        "{}\n{out}",
        r.stdout
    );
}

#[test]
fn http_storage_with_collections_is_refused() {
    let env = Env::new();
    env.config(
        "[storage.feed]\ntype = \"http\"\nurl = \"https://example.com/h.ics\"\n\n\
         [storage.local]\ntype = \"vdir\"\npath = \"local\"\n\n\
         [pair.p]\na = \"feed\"\nb = \"local\"\ncollections = [\"from a\"]\n",
    );
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("pair.p.collections: storage \"feed\" is an http feed"),
        "{}",
        r.stderr
    );
}

#[test]
fn http_storage_cannot_be_made_writable() {
    let env = Env::new();
    env.config(
        "[storage.feed]\ntype = \"http\"\nurl = \"https://example.com/h.ics\"\nread_only = false\n",
    );
    let r = config_error(&env);
    assert!(
        r.stderr
            .contains("storage.feed.read_only: an http storage is always read-only"),
        "{}",
        r.stderr
    );
}

#[test]
fn singlefile_needs_percent_s_exactly_when_the_pair_has_collections() {
    let env = Env::new();
    let cfg = |path: &str, collections: &str| {
        format!(
            "[storage.f]\ntype = \"singlefile\"\npath = \"{path}\"\n\n\
             [storage.v]\ntype = \"vdir\"\npath = \"v\"\nfileext = \".ics\"\n\n\
             [pair.p]\na = \"v\"\nb = \"f\"\n{collections}\n"
        )
    };
    env.config(&cfg("cal.ics", "collections = [\"from a\"]"));
    let r = config_error(&env);
    assert!(
        r.stderr.contains("its path must contain %s"),
        "{}",
        r.stderr
    );
    env.config(&cfg("%s.ics", ""));
    let r = config_error(&env);
    assert!(
        r.stderr.contains("which needs `collections`"),
        "{}",
        r.stderr
    );
    env.config(&cfg("%s.ics", "collections = [\"from a\"]"));
    env.run(&["check"]).assert_code(0);
}

#[test]
fn url_that_is_not_http_is_refused() {
    let env = Env::new();
    env.config(&caldav_pair("").replace("https://dav.example.com/", "ftp://dav.example.com/"));
    let r = config_error(&env);
    assert!(
        r.stderr.contains(
            "storage.remote.url: \"ftp://dav.example.com/\" is not an http:// or https:// URL"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn two_local_storages_without_extension_are_refused() {
    let env = Env::new();
    env.config(
        "[storage.a]\ntype = \"vdir\"\npath = \"a\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = \"b\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
    );
    let r = config_error(&env);
    assert!(
        r.stderr.contains("storage.a: cannot tell whether it holds calendars or contacts: set `fileext` to \".ics\" or \".vcf\""),
        "{}",
        r.stderr
    );
}

#[test]
fn key_for_caldav_only_is_refused_on_carddav() {
    let env = Env::new();
    env.config(
        "[storage.card]\ntype = \"carddav\"\nurl = \"https://dav.example.com/\"\nitem_types = [\"VEVENT\"]\n",
    );
    let r = config_error(&env);
    assert!(
        r.stderr.contains("storage.card.item_types: key `item_types` is not valid for a storage of type \"carddav\""),
        "{}",
        r.stderr
    );
}

#[test]
fn check_lists_pairs_in_file_order() {
    let env = Env::new();
    env.config(
        "[storage.a]\ntype = \"vdir\"\npath = \"a\"\nfileext = \".ics\"\n\n\
         [storage.b]\ntype = \"vdir\"\npath = \"b\"\nfileext = \".ics\"\n\n\
         [pair.zeta]\na = \"a\"\nb = \"b\"\n\n[pair.alpha]\na = \"b\"\nb = \"a\"\n",
    );
    let r = env.run(&["check"]);
    r.assert_code(0);
    assert_eq!(
        r.lines(),
        [
            "pair zeta: a (vdir) <-> b (vdir), collections: none (the storages themselves)",
            "pair alpha: b (vdir) <-> a (vdir), collections: none (the storages themselves)",
        ]
    );
}

#[test]
fn value_of_the_wrong_type_names_its_key() {
    let env = Env::new();
    env.config(&two_vdirs("").replacen(
        "fileext = \".ics\"",
        "fileext = \".ics\"\nread_only = \"yes\"",
        1,
    ));
    let r = config_error(&env);
    assert!(
        r.stderr.starts_with(
            "error: storage.a.read_only: invalid type: string \"yes\", expected a boolean"
        ),
        "{}",
        r.stderr
    );
    assert_points_at(&r, &env, 8, 13, "read_only = \"yes\"", "^^^^^");
}

#[test]
fn missing_type_names_the_table_and_the_key() {
    let env = Env::new();
    env.config("[storage.a]\npath = \"a\"\n");
    let r = config_error(&env);
    assert!(
        r.stderr
            .starts_with("error: [storage.a]: missing field `type`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(":4:1"), "{}", r.stderr);
}

#[test]
fn max_connections_out_of_range_is_refused_with_location_and_caret() {
    let env = Env::new();
    env.config(
        "[storage.a]\ntype = \"carddav\"\nurl = \"http://127.0.0.1:9/\"\nmax_connections = 0\n\n\
         [storage.b]\ntype = \"vdir\"\npath = \"b\"\nfileext = \".vcf\"\n\n\
         [pair.p]\na = \"a\"\nb = \"b\"\n",
    );
    let r = config_error(&env);
    assert!(
        r.stderr
            .starts_with("error: storage.a.max_connections: expected a whole number from 1 to 64"),
        "{}",
        r.stderr
    );
    assert_points_at(&r, &env, 7, 19, "max_connections = 0", "^");
}
