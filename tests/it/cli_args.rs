//! The command line itself: help, version, usage errors, config lookup.

use crate::cli_util;

use cli_util::{two_vdirs, Env};

#[test]
fn help_shows_the_documented_synopsis_and_every_command() {
    let env = Env::new();
    let r = env.run_raw(&["--help"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("Usage: davsync [-c|--config PATH] [-v|--verbose]... [-q|--quiet] <COMMAND>"),
        "{}",
        r.stdout
    );
    for cmd in [
        "sync", "discover", "metasync", "repair", "check", "status", "help",
    ] {
        assert!(
            r.stdout.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing from\n{}",
            r.stdout
        );
    }
    for opt in [
        "-c, --config <PATH>",
        "-v, --verbose",
        "-q, --quiet",
        "-V, --version",
    ] {
        assert!(r.stdout.contains(opt), "{opt} missing from\n{}", r.stdout);
    }
}

#[test]
fn help_subcommand_prints_the_same_help() {
    let env = Env::new();
    let a = env.run_raw(&["help"]);
    a.assert_code(0);
    assert!(a.stdout.contains("Usage: davsync [-c|--config PATH]"));
    let b = env.run_raw(&["help", "sync"]);
    b.assert_code(0);
    assert!(b
        .stdout
        .contains("Usage: davsync sync [PAIR[/COLLECTION]]... [--dry-run] [--force-delete]"));
}

#[test]
fn each_command_help_shows_its_documented_usage() {
    let env = Env::new();
    for (cmd, usage) in [
        (
            "sync",
            "Usage: davsync sync [PAIR[/COLLECTION]]... [--dry-run] [--force-delete]",
        ),
        ("discover", "Usage: davsync discover [PAIR]..."),
        ("metasync", "Usage: davsync metasync [PAIR[/COLLECTION]]..."),
        (
            "repair",
            "Usage: davsync repair STORAGE[/COLLECTION] [--dry-run]",
        ),
        ("check", "Usage: davsync check"),
        ("status", "Usage: davsync status [PAIR]..."),
    ] {
        let r = env.run_raw(&[cmd, "--help"]);
        r.assert_code(0);
        assert!(r.stdout.contains(usage), "{cmd}:\n{}", r.stdout);
    }
    let sync = env.run_raw(&["sync", "--help"]);
    assert!(sync.stdout.contains("--dry-run"));
    assert!(sync.stdout.contains("--force-delete"));
}

#[test]
fn version_prints_name_and_version() {
    let env = Env::new();
    let r = env.run_raw(&["--version"]);
    r.assert_code(0);
    assert_eq!(r.stdout, format!("davsync {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    for args in [
        &["sync", "--bogus"][..],
        &["frobnicate"][..],
        &[][..],
        &["repair"][..],
        &["-q", "-v", "check"][..],
    ] {
        let r = env.run_raw(args);
        r.assert_code(2);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(
            r.stderr.contains("error:") || r.stderr.contains("Usage:"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn missing_config_file_exits_2_naming_where_it_looked() {
    let env = Env::new();
    let r = env.run_raw(&["check"]);
    r.assert_code(2);
    assert!(r.stderr.contains("no config file found"), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            &env.path("home/.config/davsync/config.toml")
                .display()
                .to_string()
        ),
        "{}",
        r.stderr
    );
    let r = env.run_raw(&["-c", "nowhere.toml", "check"]);
    r.assert_code(2);
    assert!(r.stderr.contains("nowhere.toml"), "{}", r.stderr);
}

fn write_named_config(env: &Env, rel: &str, pair: &str) {
    env.write(
        rel,
        &two_vdirs("").replace("[pair.p]", &format!("[pair.{pair}]")),
    );
}

#[test]
fn config_is_found_through_davsync_config() {
    let env = Env::new();
    write_named_config(&env, "elsewhere/conf.toml", "via_env");
    let r: cli_util::Run = env
        .command()
        .env("DAVSYNC_CONFIG", env.path("elsewhere/conf.toml"))
        .arg("check")
        .output()
        .unwrap()
        .into();
    r.assert_code(0);
    assert!(r.stdout.contains("pair via_env:"), "{}", r.stdout);
}

#[test]
fn config_is_found_under_xdg_config_home() {
    let env = Env::new();
    write_named_config(&env, "xdg/davsync/config.toml", "via_xdg");
    let r: cli_util::Run = env
        .command()
        .env("XDG_CONFIG_HOME", env.path("xdg"))
        .arg("check")
        .output()
        .unwrap()
        .into();
    r.assert_code(0);
    assert!(r.stdout.contains("pair via_xdg:"), "{}", r.stdout);
}

#[test]
fn config_is_found_under_home_dot_config() {
    let env = Env::new();
    write_named_config(&env, "home/.config/davsync/config.toml", "via_home");
    let r = env.run_raw(&["check"]);
    r.assert_code(0);
    assert!(r.stdout.contains("pair via_home:"), "{}", r.stdout);
}

#[test]
fn lookup_order_is_flag_then_env_then_xdg_then_home() {
    let env = Env::new();
    write_named_config(&env, "flag.toml", "from_flag");
    write_named_config(&env, "env.toml", "from_env");
    write_named_config(&env, "xdg/davsync/config.toml", "from_xdg");
    write_named_config(&env, "home/.config/davsync/config.toml", "from_home");
    let run = |flag: bool, env_var: bool, xdg: bool| -> String {
        let mut c = env.command();
        if env_var {
            c.env("DAVSYNC_CONFIG", env.path("env.toml"));
        }
        if xdg {
            c.env("XDG_CONFIG_HOME", env.path("xdg"));
        }
        if flag {
            c.arg("--config").arg(env.path("flag.toml"));
        }
        let r: cli_util::Run = c.arg("check").output().unwrap().into();
        r.assert_code(0);
        r.stdout
    };
    assert!(run(true, true, true).contains("pair from_flag:"));
    assert!(run(false, true, true).contains("pair from_env:"));
    assert!(run(false, false, true).contains("pair from_xdg:"));
    assert!(run(false, false, false).contains("pair from_home:"));
}

#[test]
fn unknown_pair_name_exits_2_naming_it() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    env.mkdir("a");
    env.mkdir("b");
    for cmd in ["sync", "discover", "metasync", "status"] {
        let r = env.run(&[cmd, "nosuchpair"]);
        r.assert_code(2);
        assert!(
            r.stderr.contains("unknown pair \"nosuchpair\""),
            "{cmd}: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
    }
    assert!(!env.path("status").exists());
}

#[test]
fn collection_argument_on_a_pair_without_collections_exits_2() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    let r = env.run(&["sync", "p/work"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("pair \"p\" has no `collections`"),
        "{}",
        r.stderr
    );
}

#[test]
fn repair_of_unknown_storage_exits_2_naming_it() {
    let env = Env::new();
    env.config(&two_vdirs(""));
    let r = env.run(&["repair", "nosuch"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("unknown storage \"nosuch\""),
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_collection_of_a_pair_with_named_collections_exits_2() {
    let env = Env::new();
    env.config(&two_vdirs(
        "collections = [\"work\", [\"home\", \"h\", \"Home\"]]",
    ));
    let r = env.run(&["sync", "p/nosuch"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("pair \"p\" has no collection \"nosuch\" (its collections: work, home)"),
        "{}",
        r.stderr
    );
    assert!(!env.path("status").exists());
}
