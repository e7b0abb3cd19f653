//! The pinned third-party packages `interop` and `bench --peers` run, installed under
//! `target/`: a Python venv from a requirements file and a `node_modules` from `npm ci`. Each
//! is redone only when its pin file changed (a copy of it is kept as a stamp).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context;

use crate::{run, workspace_root};

/// Creates the venv at `venv` and installs `requirements` into it, unless the stamp says
/// these requirements are already installed there. Returns the venv's `python`.
pub fn python_venv(venv: &Path, requirements: &Path) -> anyhow::Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let wanted = fs::read_to_string(requirements)
        .with_context(|| format!("could not read {}", requirements.display()))?;
    let stamp = venv.join(".installed-requirements");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return Ok(python);
    }
    if let Some(parent) = venv.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    run(
        &format!("python3 -m venv {}", shown(venv)),
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(venv),
    )
    .context("Python 3 with the venv module is needed (apt-get install python3-venv)")?;
    run(
        &format!("pip install -r {}", shown(requirements)),
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
    )?;
    fs::write(&stamp, wanted).with_context(|| format!("could not write {}", stamp.display()))?;
    Ok(python)
}

/// Copies `package.json` and `package-lock.json` from `source` into `node_dir` and runs
/// `npm ci` there, unless the stamp says this lock is already installed. The packages bring
/// their own Node (the registry's `node` package): it is `node_dir/node_modules/.bin/node`.
pub fn npm_ci(source: &Path, node_dir: &Path) -> anyhow::Result<()> {
    let lock_path = source.join("package-lock.json");
    let lock = fs::read_to_string(&lock_path)
        .with_context(|| format!("could not read {}", lock_path.display()))?;
    let stamp = node_dir.join(".installed-lock");
    if fs::read_to_string(&stamp).ok().as_deref() == Some(lock.as_str())
        && node_dir.join("node_modules/.bin/node").exists()
    {
        return Ok(());
    }
    fs::create_dir_all(node_dir)
        .with_context(|| format!("could not create {}", node_dir.display()))?;
    for file in ["package.json", "package-lock.json"] {
        fs::copy(source.join(file), node_dir.join(file))
            .with_context(|| format!("could not copy {}", source.join(file).display()))?;
    }
    run(
        &format!("npm ci ({})", shown(node_dir)),
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(node_dir),
    )
    .context("npm (from Node.js) is needed; install nodejs and npm")?;
    fs::write(&stamp, lock).with_context(|| format!("could not write {}", stamp.display()))?;
    Ok(())
}

/// `path` relative to the workspace root when it is inside it, for step names.
fn shown(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}
