//! The pinned third-party packages `interop` and `bench --peers` run, installed under
//! `target/`: a Python venv from a requirements file and a `node_modules` from `npm ci`. Each
//! is redone only when its pin file changed (a copy of it is kept as a stamp). And the Debian
//! packages they need on the machine (wrk, chromium), installed with apt-get when missing.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

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

/// What the interop clients need from the machine before anything is built: Python 3 with
/// the `venv` module (Debian ships it apart, as `python3-venv`) and npm. Checked first, so a
/// machine without them is told at once, not after the build and the tests.
pub fn preflight() -> anyhow::Result<()> {
    preflight_with(|program, args| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|out| out.status.success())
    })
}

fn preflight_with(works: impl Fn(&str, &[&str]) -> bool) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !works("python3", &["-c", "import venv, ensurepip"]) {
        missing.push("python3 with its venv module (apt-get install python3-venv)");
    }
    if !works("npm", &["--version"]) {
        missing.push("npm (apt-get install npm, or Node.js from nodejs.org)");
    }
    if !missing.is_empty() {
        bail!(
            "the interop clients need {}; install {} and run again (they also reach PyPI and \
             the npm registry)",
            missing.join(" and "),
            if missing.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
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

/// Installs the Debian package `package` when `program` cannot be started, with apt-get as
/// root or through `sudo -n` otherwise; when that fails, updates the package lists (a new
/// machine's are empty or old) and tries again.
pub fn debian_package(package: &str, program: &str) -> anyhow::Result<()> {
    if Command::new(program).arg("--version").output().is_ok() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let apt_get = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|status| status.success())
    };
    eprintln!("xtask: installing {package} (Debian package)");
    let install = ["install", "-y", "-q", package];
    let installed = apt_get(&install) || (apt_get(&["update", "-q"]) && apt_get(&install));
    if !installed {
        bail!(
            "{package} is needed and could not be installed ({}); install it (apt-get install \
             {package}) and run again",
            if root {
                "apt-get failed"
            } else {
                "not root, and sudo -n apt-get failed"
            }
        );
    }
    if Command::new(program).arg("--version").output().is_err() {
        bail!("{package} was installed but {program} does not start");
    }
    Ok(())
}

/// `path` relative to the workspace root when it is inside it, for step names.
fn shown(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_names_each_missing_tool_and_how_to_get_it() {
        let without = |absent: &'static str| move |program: &str, _: &[&str]| program != absent;
        let error = preflight_with(without("npm")).unwrap_err().to_string();
        assert!(error.contains("npm (apt-get install npm"), "{error}");
        assert!(!error.contains("python3"), "{error}");
        let error = preflight_with(without("python3")).unwrap_err().to_string();
        assert!(error.contains("python3-venv"), "{error}");
        assert!(preflight_with(|_, _| true).is_ok());
    }
}
