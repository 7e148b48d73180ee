//! `completions` and `man`: generated from the one CLI definition ([`crate::cli::Cli`]), so
//! they can never disagree with what the binary accepts.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "davsync", &mut out);
    write_stdout(&out)
}

/// The page for `davsync` with a section per command (its synopsis, description and
/// options), rather than one page per command, so `man davsync` shows everything.
pub fn man() -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    render_man(&mut out)?;
    write_stdout(&out)
}

/// clap_mangen starts every rendered section with the same two-line string definition;
/// one, at the top, is enough.
fn dedup_preamble(page: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    page.lines()
        .filter(|l| {
            !(l.starts_with(".ie \\n(.g") || l.starts_with(".el .ds Aq")) || seen.insert(*l)
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

pub fn render_man(out: &mut Vec<u8>) -> std::io::Result<()> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        if name == "help" {
            continue;
        }
        writeln!(out, ".SH \"DAVSYNC {}\"", name.to_uppercase())?;
        let sub_man = clap_mangen::Man::new(sub.clone().bin_name(format!("davsync {name}")));
        let mut section = Vec::new();
        sub_man.render_synopsis_section(&mut section)?;
        sub_man.render_description_section(&mut section)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            sub_man.render_options_section(&mut section)?;
        }
        // The sub-page's own .SH headers become .SS sub-headers of this command's section.
        let text = String::from_utf8_lossy(&section).replace(".SH ", ".SS ");
        out.extend_from_slice(text.as_bytes());
    }
    man.render_extra_section(out)?;
    man.render_version_section(out)?;
    let page = dedup_preamble(&String::from_utf8_lossy(out));
    *out = page.into_bytes();
    Ok(())
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`davsync man | head`) is not an error.
    let _ = out.write_all(bytes);
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}
