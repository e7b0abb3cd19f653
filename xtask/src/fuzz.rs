//! `cargo xtask fuzz [--minutes N] [--merge] [TARGET…]`: runs the cargo-fuzz targets under
//! `fuzz/` with `cargo +nightly fuzz`, one after another, for N minutes each (default 1;
//! 0 with `--merge` only merges), then prints per target the executions, executions per
//! second, corpus size and crashes.
//!
//! New corpus entries go to `target/fuzz/corpus/TARGET/`, so the committed seeds in
//! `fuzz/corpus/TARGET/` stay as they are unless `--merge` is given: then the few finds that
//! add the most coverage are copied into them. Crash inputs land in
//! `fuzz/artifacts/TARGET/`, which `cargo test -p dice-mcp-fuzz` replays on stable.

use std::{
    collections::HashSet,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

use crate::{cargo, run, target_dir, workspace_root};

const DEFAULT_MINUTES: u64 = 1;
/// libFuzzer's memory cap per target process; the in-process servers stay far below it.
const RSS_LIMIT_MB: u32 = 4096;
/// One input taking longer than this is a hang (the targets' own limit is 10 s per answer).
const INPUT_TIMEOUT_SECS: u32 = 30;
/// Most files one `--merge` adds to a target's committed seeds (they are committed, and
/// replayed by every `cargo test`).
const MAX_NEW_SEEDS: usize = 30;

/// What the command line asked for.
struct Options {
    minutes: u64,
    merge: bool,
    targets: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self {
            minutes: DEFAULT_MINUTES,
            merge: false,
            targets: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--minutes" => {
                    let value = args.next().context("--minutes needs a number of minutes")?;
                    options.minutes = parse_minutes(value)?;
                }
                "--merge" => options.merge = true,
                other if other.starts_with("--minutes=") => {
                    options.minutes = parse_minutes(&other["--minutes=".len()..])?;
                }
                other if other.starts_with('-') => bail!(
                    "unknown option `{other}`; usage: cargo xtask fuzz [--minutes N] [--merge] [TARGET…]"
                ),
                target => options.targets.push(target.to_owned()),
            }
        }
        Ok(options)
    }
}

fn parse_minutes(value: &str) -> anyhow::Result<u64> {
    value
        .parse::<u64>()
        .with_context(|| format!("--minutes takes a whole number of minutes, not `{value}`"))
}

/// What one target's run came to.
struct Report {
    target: String,
    runs: Option<u64>,
    exec_per_sec: Option<u64>,
    corpus: usize,
    crashes: Vec<PathBuf>,
    log: PathBuf,
}

/// Runs the fuzz targets.
pub fn fuzz(args: &[String]) -> anyhow::Result<()> {
    let options = Options::parse(args)?;
    if options.minutes == 0 && !options.merge {
        bail!("--minutes 0 fuzzes nothing; it is for `--merge` on what earlier runs found");
    }
    require_nightly()?;
    ensure_cargo_fuzz()?;
    let known = targets()?;
    let chosen = if options.targets.is_empty() {
        known.clone()
    } else {
        for target in &options.targets {
            if !known.contains(target) {
                bail!(
                    "no fuzz target `{target}`; the targets are: {}",
                    known.join(", ")
                );
            }
        }
        options.targets.clone()
    };
    let mut reports = Vec::new();
    for target in &chosen {
        let crashed = if options.minutes > 0 {
            let report = run_target(target, options.minutes)?;
            let crashed = !report.crashes.is_empty();
            reports.push(report);
            crashed
        } else {
            false
        };
        if options.merge && !crashed {
            merge_corpus(target)?;
        }
    }
    if !reports.is_empty() {
        print_reports(&reports);
    }
    let crashed: Vec<&Report> = reports.iter().filter(|r| !r.crashes.is_empty()).collect();
    if !crashed.is_empty() {
        let list: Vec<String> = crashed
            .iter()
            .flat_map(|report| report.crashes.iter().map(|path| path.display().to_string()))
            .collect();
        bail!(
            "fuzzing found {} crash input(s): {}. The panic is in each target's log \
             (target/fuzz/logs/); reproduce with `cargo test -p dice-mcp-fuzz`, which replays \
             fuzz/artifacts/",
            list.len(),
            list.join(", ")
        );
    }
    Ok(())
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("fuzz")
}

/// Where fuzz builds, working corpora and logs go: apart from the stable builds, so neither
/// waits on the other's lock or rebuilds the other's artifacts.
fn work_dir() -> PathBuf {
    target_dir().join("fuzz")
}

/// `cargo +nightly …`, through rustup's proxy (the `CARGO` that runs xtask is stable's).
fn nightly_cargo() -> Command {
    let mut command = Command::new("cargo");
    command.arg("+nightly").current_dir(workspace_root());
    command
}

/// Fails with what to do when no nightly toolchain is installed.
fn require_nightly() -> anyhow::Result<()> {
    let output = nightly_cargo()
        .arg("--version")
        .stderr(Stdio::null())
        .output();
    match output {
        Ok(output)
            if output.status.success()
                && String::from_utf8_lossy(&output.stdout).contains("nightly") =>
        {
            Ok(())
        }
        _ => bail!(
            "cargo xtask fuzz needs a nightly Rust toolchain (libFuzzer's instrumentation is \
             nightly-only), and `cargo +nightly` does not run here: install one with \
             `rustup toolchain install nightly`, then run this again. Without nightly, \
             `cargo test -p dice-mcp-fuzz` still replays the committed corpora and crash inputs"
        ),
    }
}

/// Installs cargo-fuzz when `cargo fuzz` is not there.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let installed = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        run(
            "cargo install cargo-fuzz --locked",
            cargo().args(["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    Ok(())
}

/// The targets: one per file in `fuzz/fuzz_targets/`.
fn targets() -> anyhow::Result<Vec<String>> {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut targets: Vec<String> = files(&dir)?
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    targets.sort();
    if targets.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(targets)
}

/// The files in `dir` (none when it does not exist).
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("could not list {}", dir.display()))?
            .path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))
}

/// The `cargo fuzz` options every subcommand here shares.
fn build_args(command: &mut Command) -> &mut Command {
    // No sanitizer: the code is safe Rust (unsafe_code is forbidden), and AddressSanitizer
    // would halve the executions per second for bugs it cannot have.
    command
        .args([
            "--features",
            "libfuzzer",
            "--sanitizer",
            "none",
            "--target-dir",
        ])
        .arg(work_dir().join("build"))
}

fn run_target(target: &str, minutes: u64) -> anyhow::Result<Report> {
    let corpus = work_dir().join("corpus").join(target);
    let seeds = fuzz_dir().join("corpus").join(target);
    let artifacts = fuzz_dir().join("artifacts").join(target);
    let logs = work_dir().join("logs");
    for dir in [&corpus, &seeds, &artifacts, &logs] {
        create_dir(dir)?;
    }
    let log = logs.join(format!("{target}.log"));
    let before = files(&artifacts)?;
    eprintln!(
        "xtask: fuzzing {target} for {minutes} min (building first if needed); log in {}",
        log.display()
    );
    let output =
        fs::File::create(&log).with_context(|| format!("could not create {}", log.display()))?;
    let errors = output
        .try_clone()
        .with_context(|| format!("could not open {} twice", log.display()))?;
    let mut command = nightly_cargo();
    command.args(["fuzz", "run"]);
    build_args(&mut command)
        .arg(target)
        // The first corpus directory is where libFuzzer writes what it finds.
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={}", minutes * 60))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .stdout(output)
        .stderr(errors);
    let status = command
        .status()
        .with_context(|| format!("could not start `cargo +nightly fuzz run {target}`"))?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    let crashes: Vec<PathBuf> = files(&artifacts)?
        .into_iter()
        .filter(|path| !before.contains(path))
        .collect();
    if !status.success() && crashes.is_empty() {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "`cargo +nightly fuzz run {target}` failed ({status}) without a crash input; the \
             end of {}:\n{}",
            log.display(),
            tail.join("\n")
        );
    }
    Ok(Report {
        target: target.to_owned(),
        runs: final_stat(&text, "stat::number_of_executed_units:"),
        exec_per_sec: final_stat(&text, "stat::average_exec_per_sec:"),
        corpus: files(&corpus)?.len(),
        crashes,
        log,
    })
}

/// A number from libFuzzer's final statistics (`-print_final_stats=1`).
fn final_stat(log: &str, name: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|value| value.trim().parse().ok())
}

/// Adds to the committed seeds at most [`MAX_NEW_SEEDS`] of the run's finds: those that
/// reach the most coverage the seeds do not, picked greedily from the features libFuzzer
/// records per file in a merge. A plain `cmin` would keep hundreds of files, too many to
/// commit; the fuzzer finds the rest again from these in seconds.
fn merge_corpus(target: &str) -> anyhow::Result<()> {
    let seeds = fuzz_dir().join("corpus").join(target);
    let found = work_dir().join("corpus").join(target);
    let scratch = work_dir().join("merge").join(target);
    if scratch.exists() {
        fs::remove_dir_all(&scratch)
            .with_context(|| format!("could not empty {}", scratch.display()))?;
    }
    create_dir(&scratch)?;
    let control = work_dir().join("merge").join(format!("{target}.control"));
    let mut command = nightly_cargo();
    command.args(["fuzz", "run"]);
    build_args(&mut command)
        .arg(target)
        .arg(&scratch)
        .arg(&seeds)
        .arg(&found)
        .arg("--")
        .arg("-merge=1")
        .arg(format!("-merge_control_file={}", control.display()))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"));
    run(
        &format!("cargo +nightly fuzz run {target} -- -merge=1"),
        &mut command,
    )?;
    let text = fs::read_to_string(&control)
        .with_context(|| format!("could not read {}", control.display()))?;
    let features = features_per_file(&text);
    let mut covered: HashSet<u64> = features
        .iter()
        .filter(|(path, _)| path.starts_with(&seeds))
        .flat_map(|(_, features)| features.iter().copied())
        .collect();
    let mut candidates: Vec<(PathBuf, HashSet<u64>)> = features
        .into_iter()
        .filter(|(path, _)| path.starts_with(&found))
        .collect();
    let mut added = 0;
    while added < MAX_NEW_SEEDS {
        let best = candidates
            .iter()
            .enumerate()
            .map(|(index, (_, features))| (features.difference(&covered).count(), index))
            .max_by_key(|(gain, index)| (*gain, std::cmp::Reverse(*index)));
        let Some((gain, index)) = best.filter(|(gain, _)| *gain > 0) else {
            break;
        };
        let (path, features) = candidates.swap_remove(index);
        covered.extend(features);
        let name = path.file_name().context("a corpus file without a name")?;
        fs::copy(&path, seeds.join(name))
            .with_context(|| format!("could not copy {} into the seeds", path.display()))?;
        eprintln!(
            "xtask: seed {} adds {gain} features",
            name.to_string_lossy()
        );
        added += 1;
    }
    eprintln!(
        "xtask: added {added} seeds; fuzz/corpus/{target}/ holds {} files",
        files(&seeds)?.len()
    );
    Ok(())
}

/// The features of each file, from a libFuzzer merge control file: the number of files,
/// the number in the first corpus, one path per line, then per file `STARTED i size`,
/// `FT i feature…` and `COV i edge…`.
fn features_per_file(control: &str) -> Vec<(PathBuf, HashSet<u64>)> {
    let mut lines = control.lines();
    let count: usize = lines
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let _first_corpus = lines.next();
    let paths: Vec<PathBuf> = lines.by_ref().take(count).map(PathBuf::from).collect();
    let mut features: Vec<HashSet<u64>> = vec![HashSet::new(); paths.len()];
    for line in lines {
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some("FT") {
            continue;
        }
        let Some(index) = words.next().and_then(|i| i.parse::<usize>().ok()) else {
            continue;
        };
        if let Some(set) = features.get_mut(index) {
            set.extend(words.filter_map(|feature| feature.parse::<u64>().ok()));
        }
    }
    paths.into_iter().zip(features).collect()
}

fn print_reports(reports: &[Report]) {
    let show = |value: Option<u64>| value.map_or_else(|| "?".to_owned(), |v| v.to_string());
    println!(
        "{:<22} {:>12} {:>9} {:>8} {:>8}  log",
        "target", "executions", "exec/s", "corpus", "crashes"
    );
    for report in reports {
        println!(
            "{:<22} {:>12} {:>9} {:>8} {:>8}  {}",
            report.target,
            show(report.runs),
            show(report.exec_per_sec),
            report.corpus,
            report.crashes.len(),
            report.log.display()
        );
    }
}
