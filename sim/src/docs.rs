//! `ftl-sim docs DIR`: man pages and shell completions for every ftl binary, generated from the
//! same argument definitions as their `--help`, so the two never disagree. It lives here rather
//! than in the binaries so that the installed binaries do not carry the generators.

use clap::CommandFactory;
use std::path::Path;

pub fn generate(dir: &Path) -> Result<Vec<String>, String> {
    let commands = vec![
        ftl::cli::AcquireArgs::command(),
        ftl::cli::ReleaseArgs::command(),
        ftl::cli::StatusArgs::command(),
        ftl::cli::NotifyArgs::command(),
        ftl::cli::WindowArgs::command(),
        crate::cli::command(),
    ];
    let man = dir.join("man1");
    let bash = dir.join("bash");
    let zsh = dir.join("zsh");
    for d in [&man, &bash, &zsh] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut written = Vec::new();
    for mut cmd in commands {
        let name = cmd.get_name().to_string();
        write_pages(cmd.clone().disable_help_subcommand(true), &man, &mut written)?;
        for (shell, out, file) in
            [(clap_complete::Shell::Bash, &bash, name.clone()), (clap_complete::Shell::Zsh, &zsh, format!("_{name}"))]
        {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, name.clone(), &mut text);
            let path = out.join(file);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            written.push(path.display().to_string());
        }
    }
    Ok(written)
}

/// The page of `cmd` and, since its page points to them, those of its subcommands
/// (`ftl-window-tick.1`), the way `clap_mangen::generate_to` names them.
fn write_pages(mut cmd: clap::Command, man: &Path, written: &mut Vec<String>) -> Result<(), String> {
    cmd.build();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), man, written)?;
    }
    let page = clap_mangen::Man::new(cmd.clone());
    let mut text = Vec::new();
    page.render(&mut text).map_err(|e| e.to_string())?;
    let text = keep_tables(&String::from_utf8_lossy(&text), &cmd);
    let path = man.join(page.get_filename());
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    written.push(path.display().to_string());
    Ok(())
}

/// clap_mangen fills every paragraph of the description, so a table in `long_about` (a
/// paragraph of several lines, each a row, as `--help` shows it) would run together into one
/// paragraph. This prints such paragraphs line by line (`.nf`), indented (`.RS`). The
/// description's lines are rendered one to one, blank ones as `.PP`, which is how the two are
/// matched.
fn keep_tables(page: &str, cmd: &clap::Command) -> String {
    let Some(about) = cmd.get_long_about().map(|a| a.to_string()) else {
        return page.to_string();
    };
    let source: Vec<&str> = about.lines().collect();
    let filled = |i: usize| source[i].trim().is_empty();
    // A row: a non-blank line with a non-blank neighbour in its paragraph.
    let row = |i: usize| !filled(i) && ((i > 0 && !filled(i - 1)) || (i + 1 < source.len() && !filled(i + 1)));
    let mut out = String::new();
    let mut lines = page.lines();
    for line in lines.by_ref() {
        out.push_str(line);
        out.push('\n');
        if line == ".SH DESCRIPTION" {
            break;
        }
    }
    let mut table = false;
    for i in 0..source.len() {
        let Some(line) = lines.next() else {
            break;
        };
        if row(i) && !table {
            out.push_str(".RS 2\n.nf\n");
        } else if !row(i) && table {
            out.push_str(".fi\n.RE\n");
        }
        table = row(i);
        out.push_str(line);
        out.push('\n');
    }
    if table {
        out.push_str(".fi\n.RE\n");
    }
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out
}
