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
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut page).map_err(|e| e.to_string())?;
        let path = man.join(format!("{name}.1"));
        std::fs::write(&path, page).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path.display().to_string());
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
