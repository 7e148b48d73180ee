//! `davsync completions SHELL` and `davsync man`: generated from the one CLI definition, so
//! every command the binary accepts appears in them.

use crate::common;

use clap::CommandFactory;
use common::Sandbox;

/// Every command of the CLI definition, checked against the ones the interface documents so
/// that a command dropped from the definition fails here too.
fn commands() -> Vec<String> {
    let names: Vec<String> = davsync::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for documented in [
        "sync",
        "discover",
        "metasync",
        "repair",
        "check",
        "status",
        "import-vdirsyncer",
        "completions",
        "man",
    ] {
        assert!(
            names.iter().any(|n| n == documented),
            "{documented} missing"
        );
    }
    names
}

#[test]
fn completion_scripts_for_every_shell_mention_every_command() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = sb.run(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.dump());
        assert_eq!(run.stderr, "", "{shell}");
        for cmd in commands() {
            assert!(
                run.stdout.contains(&cmd),
                "{shell} completions do not mention {cmd}"
            );
        }
        assert!(
            run.stdout.contains("log-format"),
            "{shell}: global options too"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let run = Sandbox::new().run(&["completions", "tcsh"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(run
        .stderr
        .contains("[possible values: bash, elvish, fish, powershell, zsh]"));
}

#[test]
fn the_man_page_has_a_section_per_command_with_its_options() {
    let run = Sandbox::new().run(&["man"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let page = run.stdout;
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH davsync 1"),
        "{page}"
    );
    assert_eq!(page.matches(".el .ds Aq").count(), 1, "one preamble");
    for cmd in commands() {
        if cmd == "help" {
            continue;
        }
        assert!(
            page.contains(&format!(".SH \"DAVSYNC {}\"", cmd.to_uppercase())),
            "no section for {cmd}"
        );
    }
    // Options of a command appear in its section.
    let import = page
        .split(".SH \"DAVSYNC IMPORT-VDIRSYNCER\"")
        .nth(1)
        .unwrap();
    let import = import.split(".SH ").next().unwrap();
    for opt in ["\\-\\-from", "\\-\\-to", "\\-\\-force"] {
        assert!(import.contains(opt), "{opt} missing from:\n{import}");
    }
}
