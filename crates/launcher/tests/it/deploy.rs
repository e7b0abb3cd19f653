//! The deploy files (`deploy/`, `docs/deploy.md`) kept honest: every `DICE_MCP_*` variable
//! they name is one the CLI reads, the environment file starts a server that passes
//! `dice-mcp health`, the Dockerfile builds the release binary and runs it unprivileged with
//! that health check, compose runs two replicas sharing Redis behind nginx, the systemd unit
//! is hardened (and passes `systemd-analyze verify` where it exists), and the binary links
//! only libraries the distroless image ships. No image is built here: no registry is
//! reachable, so the Dockerfile is checked as text and its commands through the CLI parser.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{CommandFactory, Parser};
use launcher::cli::{Cli, Command, parse_duration};
use serde_norway::Value;

use crate::binary::BIN;

const DOCKERFILE: &str = "deploy/Dockerfile";
const COMPOSE: &str = "deploy/docker-compose.yml";
const ENV_FILE: &str = "deploy/dice-mcp.env";
const UNIT: &str = "deploy/systemd/dice-mcp.service";
const NGINX_TEMPLATE: &str = "deploy/nginx/dice-mcp.conf.template";
const DOCS: &str = "docs/deploy.md";

/// What `gcr.io/distroless/cc-debian12` ships of the libraries a program may link: glibc's
/// (libc, libm, and the stubs libdl, libpthread, librt), libgcc_s, the loader and the vDSO.
const DISTROLESS_CC_LIBRARIES: &[&str] = &[
    "linux-vdso.so.1",
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libgcc_s.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_root().join(relative))
        .unwrap_or_else(|error| panic!("could not read {relative}: {error}"))
}

/// `dice-mcp SUBCOMMAND`'s argument with this long flag.
fn cli_arg(subcommand: &str, long: &str) -> Option<clap::Arg> {
    Cli::command()
        .find_subcommand(subcommand)
        .unwrap_or_else(|| panic!("dice-mcp has no {subcommand} subcommand"))
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .cloned()
}

/// The first default value of `dice-mcp SUBCOMMAND --LONG`, as text.
fn cli_default(subcommand: &str, long: &str) -> String {
    let arg = cli_arg(subcommand, long).unwrap_or_else(|| panic!("no --{long}"));
    arg.get_default_values()
        .first()
        .unwrap_or_else(|| panic!("--{long} has no default"))
        .to_string_lossy()
        .into_owned()
}

/// Every environment variable some flag of some subcommand of the CLI reads.
fn cli_env_vars() -> BTreeSet<String> {
    fn collect(command: &clap::Command, into: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                into.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, into);
        }
    }
    let mut vars = BTreeSet::new();
    collect(&Cli::command(), &mut vars);
    vars
}

/// The `DICE_MCP_*` names in a text, wherever they stand (comments too).
fn dice_mcp_names(text: &str) -> BTreeSet<String> {
    let is_name = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("DICE_MCP_") {
        if text[..start].chars().next_back().is_some_and(is_name) {
            continue;
        }
        let end = text[start..]
            .find(|c: char| !is_name(c))
            .map_or(text.len(), |len| start + len);
        // `DICE_MCP_*`, the family, is no name.
        if end > start + "DICE_MCP_".len() {
            names.insert(text[start..end].to_owned());
        }
    }
    names
}

/// The `${NAME}` variables of an nginx template's directives (its comments are not read).
fn template_vars(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| line.split("${").skip(1))
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// The files under `deploy/` that configure dice-mcp: all but nginx's (whose variables are
/// the template's own) and generated keys.
fn deploy_files() -> Vec<String> {
    fn walk(dir: &Path, relative: &str, into: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{relative}/{name}");
            if path == "deploy/nginx" || path == "deploy/keys" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &path, into);
            } else {
                into.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo_root().join("deploy"), "deploy", &mut files);
    files.sort();
    files
}

/// The environment file's settings (uncommented `NAME=value` lines).
fn env_file() -> BTreeMap<String, String> {
    read(ENV_FILE)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{ENV_FILE}: {line:?} is not NAME=value"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// How long a stopping server may take: the shutdown grace the environment file sets (or
/// the CLI's default) plus the one second the process allows itself after it.
fn drain_time() -> Duration {
    let grace = env_file()
        .get("DICE_MCP_SHUTDOWN_GRACE")
        .cloned()
        .unwrap_or_else(|| cli_default("serve", "shutdown-grace"));
    parse_duration(&grace).unwrap() + Duration::from_secs(1)
}

fn compose() -> Value {
    serde_norway::from_str(&read(COMPOSE))
        .unwrap_or_else(|error| panic!("{COMPOSE} is not YAML compose can read: {error}"))
}

/// A compose service's `environment:` mapping.
fn compose_environment(compose: &Value, service: &str) -> BTreeMap<String, String> {
    let environment = compose["services"][service]["environment"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{COMPOSE}: write {service}'s environment as a mapping"));
    environment
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) => text.clone(),
                other => panic!("{COMPOSE}: quote {name:?}'s value {other:?}"),
            };
            (name.as_str().unwrap().to_owned(), value)
        })
        .collect()
}

#[test]
fn deploy_files_name_only_variables_the_cli_reads() {
    let files = deploy_files();
    for expected in [DOCKERFILE, COMPOSE, ENV_FILE, UNIT] {
        assert!(files.iter().any(|f| f == expected), "{expected} is missing");
    }
    let mut known = cli_env_vars();
    let nginx = template_vars(&read(NGINX_TEMPLATE));
    known.extend(nginx.iter().cloned());

    let mut unknown = Vec::new();
    for file in files.iter().map(String::as_str).chain([DOCS]) {
        let names = dice_mcp_names(&read(file));
        assert!(
            !names.is_empty() || ![DOCKERFILE, COMPOSE, ENV_FILE, UNIT, DOCS].contains(&file),
            "{file} names no DICE_MCP_ variable: is the scan reading it?"
        );
        for name in names.difference(&known) {
            unknown.push(format!("{file}: {name}"));
        }
    }
    assert!(
        unknown.is_empty(),
        "named in the deploy files but read by no flag of dice-mcp (renamed? misspelt?); \
         `dice-mcp <command> --help` shows each flag's variable:\n  {}",
        unknown.join("\n  ")
    );
}

#[test]
fn env_file_holds_bare_assignments_that_systemd_and_compose_read_alike() {
    let known = cli_env_vars();
    for line in read(ENV_FILE).lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        // A commented-out setting must name a real variable too, to be uncommented as is.
        let (setting, commented) = match line.strip_prefix('#') {
            Some(rest) if rest.starts_with("DICE_MCP_") => (rest, true),
            Some(_) => continue,
            None => (line, false),
        };
        let (name, value) = setting
            .split_once('=')
            .unwrap_or_else(|| panic!("{ENV_FILE}: {line:?} is not NAME=value"));
        assert!(
            known.contains(name) || (name == "RUST_LOG" && !commented),
            "{ENV_FILE}: {name} is not a variable dice-mcp reads"
        );
        assert!(
            !value.is_empty()
                && !value.contains(char::is_whitespace)
                && !value.contains(['"', '\''])
                && !name.starts_with("export"),
            "{ENV_FILE}: write {line:?} bare (NAME=value, no quotes or spaces): systemd's \
             EnvironmentFile= and compose's env_file read quotes differently"
        );
    }
}

#[tokio::test]
async fn env_file_starts_a_server_that_passes_dice_mcp_health() {
    let keys = tempfile::tempdir().unwrap();
    crate::auth::keygen(keys.path()).await;
    let public_key = keys.path().join("public.pem").to_str().unwrap().to_owned();

    // As systemd runs it (the file alone), and as compose does (its overrides on top); only
    // the addresses and the key's path are this machine's.
    let mut with_compose = env_file();
    with_compose.extend(compose_environment(&compose(), "dice-mcp"));
    for (how, mut env) in [("systemd", env_file()), ("compose", with_compose)] {
        env.insert("DICE_MCP_ADDR".into(), "127.0.0.1:0".into());
        env.insert("DICE_MCP_PUBLIC_KEY".into(), public_key.clone());
        if env.contains_key("DICE_MCP_METRICS_ADDR") {
            env.insert("DICE_MCP_METRICS_ADDR".into(), "127.0.0.1:0".into());
        }
        let mut serve = tokio::process::Command::new(BIN);
        serve.arg("serve");
        for (name, _) in std::env::vars() {
            if name.starts_with("DICE_MCP_") || name == "RUST_LOG" {
                serve.env_remove(name);
            }
        }
        serve.envs(&env);
        let (child, url, _log) = crate::binary::start_command(serve).await;

        let healthz = url.replace("/mcp", "/healthz");
        let health = tokio::process::Command::new(BIN)
            .args(["health", "--url", &healthz])
            .output()
            .await
            .unwrap();
        assert!(
            health.status.success(),
            "{how}: {}",
            String::from_utf8_lossy(&health.stderr)
        );
        drop(child);
    }
}

/// One Dockerfile instruction, continuation lines joined, whitespace collapsed.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The Dockerfile's stages, each a list of instructions beginning with its `FROM`.
fn dockerfile_stages(text: &str) -> Vec<Vec<Instruction>> {
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    let mut pending = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let words: Vec<&str> = pending.split_whitespace().collect();
        let instruction = Instruction {
            keyword: words[0].to_ascii_uppercase(),
            args: words[1..].join(" "),
        };
        pending.clear();
        if instruction.keyword == "FROM" {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("an instruction before the first FROM")
            .push(instruction);
    }
    stages
}

fn instruction<'a>(stage: &'a [Instruction], keyword: &str) -> Option<&'a str> {
    stage
        .iter()
        .rev()
        .find(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
}

/// An exec-form (JSON array) command.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|_| panic!("{DOCKERFILE}: write {args:?} in exec form, [\"...\", ...]"))
}

#[test]
fn dockerfile_builds_the_release_binary_and_runs_it_unprivileged_with_a_health_check() {
    let stages = dockerfile_stages(&read(DOCKERFILE));
    assert!(
        stages.len() >= 2,
        "{DOCKERFILE}: a build stage and a run stage"
    );
    let (last, builders) = stages.split_last().unwrap();

    // The builder: Rust no older than the workspace's rust-version, on Debian 12 (the
    // glibc the run stage has), running exactly the release build the tests use.
    let from: Vec<&str> = builders[0][0].args.split(' ').collect();
    let (image, alias) = (from[0], from.last().unwrap());
    let tag = image
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("{DOCKERFILE}: build in the official rust image"));
    let (version, distro) = tag.split_once('-').unwrap();
    assert_eq!(distro, "bookworm", "{DOCKERFILE}: build on Debian 12");
    let manifest = read("Cargo.toml");
    let rust_version = manifest
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let numbers = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        numbers(version) >= numbers(rust_version),
        "{DOCKERFILE}: rust {version} is older than the workspace's rust-version {rust_version}"
    );
    assert!(
        builders.iter().flatten().any(|i| i.keyword == "RUN"
            && i.args
                .contains("cargo build --release --locked -p launcher")),
        "{DOCKERFILE}: the builder runs `cargo build --release --locked -p launcher`"
    );

    // The run stage: distroless cc on Debian 12, the builder's binary, a user other than
    // root, the health check, serve as the command.
    assert!(
        last[0].args.starts_with("gcr.io/distroless/cc-debian12"),
        "{DOCKERFILE}: the libraries the ldd test allows are distroless/cc-debian12's"
    );
    let copy = instruction(last, "COPY").expect("the run stage copies the binary");
    assert!(
        copy.starts_with(&format!("--from={alias} ")),
        "{DOCKERFILE}: {copy}"
    );
    let binary = copy.rsplit(' ').next().unwrap();

    let user = instruction(last, "USER").expect("the run stage sets a USER");
    let user = user.split(':').next().unwrap();
    assert!(
        !user.is_empty() && user != "root" && user != "0",
        "{DOCKERFILE}: the run stage runs as {user:?}: name a user other than root"
    );

    let healthcheck = instruction(last, "HEALTHCHECK").expect("a HEALTHCHECK");
    let (_, command) = healthcheck
        .split_once("CMD ")
        .expect("HEALTHCHECK ... CMD [...]");
    let health = exec_form(command);
    assert_eq!(health[0], binary, "the health check runs the copied binary");
    match Cli::try_parse_from(&health) {
        Ok(Cli {
            command: Command::Health(_),
        }) => {}
        other => panic!("the HEALTHCHECK is not `dice-mcp health`: {other:?}"),
    }

    let mut run = exec_form(instruction(last, "ENTRYPOINT").expect("an ENTRYPOINT"));
    run.extend(exec_form(instruction(last, "CMD").expect("a CMD")));
    assert_eq!(run[0], binary);
    assert_runs_serve(&run, "the image");

    // One port: where serve listens, what is exposed, what `health` asks by default.
    let env = instruction(last, "ENV").expect("ENV DICE_MCP_ADDR");
    let addr: SocketAddr = env
        .strip_prefix("DICE_MCP_ADDR=")
        .expect("ENV DICE_MCP_ADDR=...")
        .parse()
        .unwrap();
    assert_eq!(
        instruction(last, "EXPOSE"),
        Some(addr.port().to_string().as_str()),
        "{DOCKERFILE}: EXPOSE the port DICE_MCP_ADDR listens on"
    );
    let health_url = url::Url::parse(&cli_default("health", "url")).unwrap();
    assert_eq!(
        health_url.port(),
        Some(addr.port()),
        "`dice-mcp health` asks {health_url} by default, the image serves on {addr}"
    );
}

#[test]
fn compose_runs_two_replicas_sharing_redis_behind_nginx() {
    let compose = compose();
    let services = &compose["services"];

    let redis = &services["redis"];
    assert!(redis["image"].as_str().unwrap().starts_with("redis:"));
    let command: Vec<&str> = redis["command"]
        .as_sequence()
        .expect("redis's command, as a list")
        .iter()
        .map(|word| word.as_str().unwrap())
        .collect();
    assert!(
        command.windows(2).any(|w| w == ["--appendonly", "yes"]),
        "Redis keeps sessions across a restart only with --appendonly yes: {command:?}"
    );

    let replica = &services["dice-mcp"];
    assert_eq!(replica["deploy"]["replicas"].as_u64(), Some(2));
    let deploy = repo_root().join("deploy");
    let context = deploy.join(replica["build"]["context"].as_str().unwrap());
    assert!(
        context
            .join(replica["build"]["dockerfile"].as_str().unwrap())
            .ends_with(DOCKERFILE)
            && context.join(DOCKERFILE).is_file(),
        "{COMPOSE} builds another Dockerfile"
    );
    assert_eq!(
        deploy.join(replica["env_file"].as_str().unwrap()),
        repo_root().join(ENV_FILE)
    );
    let env = compose_environment(&compose, "dice-mcp");
    let addr: SocketAddr = env["DICE_MCP_ADDR"].parse().unwrap();
    assert!(
        addr.ip().is_unspecified(),
        "nginx reaches replicas on their own address"
    );
    assert!(env["DICE_MCP_SESSION_STORE"].starts_with("redis://redis:"));
    let key = &env["DICE_MCP_PUBLIC_KEY"];
    let mounts: Vec<&str> = replica["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        mounts
            .iter()
            .any(|m| m.ends_with(&format!(":{key}:ro")) && m.starts_with("./keys/")),
        "the public key is mounted read-only at {key}: {mounts:?}"
    );
    let stop = parse_duration(replica["stop_grace_period"].as_str().unwrap()).unwrap();
    assert!(
        stop > drain_time(),
        "stop_grace_period {stop:?} would SIGKILL a drain of up to {:?}",
        drain_time()
    );

    // nginx: the template mounted where the official image renders it, every variable it
    // uses set, and its upstream the replicas' port.
    let nginx = &services["nginx"];
    let mounts: Vec<&str> = nginx["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        mounts.contains(
            &"./nginx/dice-mcp.conf.template:/etc/nginx/templates/default.conf.template:ro"
        ),
        "{mounts:?}"
    );
    let nginx_env = compose_environment(&compose, "nginx");
    let set: BTreeSet<String> = nginx_env.keys().cloned().collect();
    assert_eq!(set, template_vars(&read(NGINX_TEMPLATE)));
    assert_eq!(
        nginx_env["DICE_MCP_UPSTREAM"],
        format!("dice-mcp:{}", addr.port())
    );
    let depends: Vec<&str> = nginx["depends_on"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(depends.contains(&"dice-mcp"), "{depends:?}");
}

/// The unit's `Key=value` lines, section by section.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').unwrap();
        entries.push((
            section.clone(),
            key.trim().to_owned(),
            value.trim().to_owned(),
        ));
    }
    entries
}

#[test]
fn systemd_unit_is_hardened_and_outlasts_the_drain() {
    let entries = unit_entries(&read(UNIT));
    let service = |key: &str| -> Vec<&str> {
        entries
            .iter()
            .filter(|(section, k, _)| section == "Service" && k == key)
            .map(|(_, _, value)| value.as_str())
            .collect()
    };
    let required = [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("CapabilityBoundingSet", ""),
        ("EnvironmentFile", "/etc/dice-mcp/dice-mcp.env"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ];
    let missing: Vec<String> = required
        .iter()
        .filter(|(key, value)| !service(key).contains(value))
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    assert!(missing.is_empty(), "{UNIT} lacks {missing:?}");
    assert!(
        !entries.iter().any(|(_, key, _)| key == "User"),
        "DynamicUser=yes, not a fixed User="
    );

    let exec = service("ExecStart");
    let argv: Vec<&str> = exec[0].split_whitespace().collect();
    assert_runs_serve(&argv, UNIT);

    let stop = parse_duration(service("TimeoutStopSec")[0]).unwrap();
    assert!(
        stop > drain_time(),
        "TimeoutStopSec={stop:?} would SIGKILL a drain of up to {:?}",
        drain_time()
    );
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Ok(found) = std::process::Command::new("which")
        .arg("systemd-analyze")
        .output()
    else {
        eprintln!("no `which`: the unit is checked as text only");
        return;
    };
    if !found.status.success() {
        eprintln!("no systemd-analyze on this machine: the unit is checked as text only");
        return;
    }
    // verify needs ExecStart to exist: the binary under test stands in for the installed one.
    let unit = read(UNIT).replace("/usr/local/bin/dice-mcp", BIN);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dice-mcp.service");
    std::fs::write(&path, unit).unwrap();
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // verify exits 0 on unknown keys and bad values, only warning: any word about our unit
    // is a failure.
    let about_unit: Vec<&str> = said
        .lines()
        .filter(|line| line.contains("dice-mcp"))
        .collect();
    assert!(
        output.status.success() && about_unit.is_empty(),
        "systemd-analyze verify {UNIT}:\n{said}"
    );
}

#[test]
fn binary_links_only_libraries_distroless_cc_ships() {
    let output = std::process::Command::new("ldd")
        .arg(BIN)
        .output()
        .expect("ldd (Debian's libc-bin) lists the binary's shared libraries: install it");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if text.contains("statically linked") || text.contains("not a dynamic executable") {
        return;
    }
    assert!(output.status.success(), "ldd {BIN}: {text}");
    let libraries: Vec<String> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|first| {
            Path::new(first)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        libraries.iter().any(|l| l == "libc.so.6"),
        "no libc in ldd's listing, is it read right?\n{text}"
    );
    let foreign: Vec<&String> = libraries
        .iter()
        .filter(|l| !DISTROLESS_CC_LIBRARIES.contains(&l.as_str()))
        .collect();
    assert!(
        foreign.is_empty(),
        "dice-mcp links {foreign:?}, which gcr.io/distroless/cc-debian12 does not ship: the \
         image's binary would not start. Prefer a pure-Rust crate (rustls, not OpenSSL), or \
         change the run stage of {DOCKERFILE} and say why in {DOCS}:\n{text}"
    );
}

/// Panics unless `argv` parses (with clap, as the binary would) as `dice-mcp serve`.
fn assert_runs_serve<T: Into<std::ffi::OsString> + Clone + std::fmt::Debug>(
    argv: &[T],
    what: &str,
) {
    assert!(
        matches!(
            Cli::try_parse_from(argv.iter().cloned()),
            Ok(Cli {
                command: Command::Serve(_)
            })
        ),
        "{what} runs {argv:?}, not `dice-mcp serve`"
    );
}

/// The README's test command, the first command line between the test-command markers (what
/// `.ci/run` runs).
fn readme_test_command() -> String {
    let readme = read("README.md");
    let start = readme
        .find("<!-- test-command -->")
        .expect("README.md has a <!-- test-command --> marker");
    let end = readme
        .find("<!-- /test-command -->")
        .expect("README.md has a <!-- /test-command --> marker");
    readme[start..end]
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("<!--") && !line.starts_with("```"))
        .expect("a command between the markers")
        .to_owned()
}

fn workflow(relative: &str) -> Value {
    serde_norway::from_str(&read(relative))
        .unwrap_or_else(|error| panic!("{relative} is not YAML: {error}"))
}

/// The `run:` lines of a workflow job's steps.
fn job_runs<'a>(workflow: &'a Value, job: &str) -> Vec<&'a str> {
    workflow["jobs"][job]["steps"]
        .as_sequence()
        .unwrap_or_else(|| panic!("job {job} has a list of steps"))
        .iter()
        .filter_map(|step| step["run"].as_str())
        .collect()
}

fn job_uses<'a>(workflow: &'a Value, job: &str) -> Vec<&'a str> {
    workflow["jobs"][job]["steps"]
        .as_sequence()
        .unwrap_or_else(|| panic!("job {job} has a list of steps"))
        .iter()
        .filter_map(|step| step["uses"].as_str())
        .collect()
}

#[test]
fn ci_workflow_runs_exactly_the_readme_test_command() {
    let ci = workflow(".github/workflows/ci.yml");
    let command = readme_test_command();
    assert_eq!(command, "cargo xtask ci");
    let runs = job_runs(&ci, "ci");
    assert_eq!(
        runs.last().map(|run| run.trim()),
        Some(command.as_str()),
        "the last step of ci.yml runs the README's test command: {runs:?}"
    );
    let uses = job_uses(&ci, "ci");
    for action in [
        "actions/checkout@v4",
        "Swatinem/rust-cache@v2",
        "actions/setup-python@v5",
        "actions/setup-node@v4",
    ] {
        assert!(uses.contains(&action), "ci.yml uses {action}: {uses:?}");
    }
}

#[test]
fn release_workflow_builds_the_four_targets_on_version_tags() {
    let release = workflow(".github/workflows/release.yml");
    let tags = release["on"]["push"]["tags"]
        .as_sequence()
        .expect("release.yml runs on pushed tags");
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].as_str(), Some("v*"));
    let targets: Vec<&str> = release["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .expect("a build matrix")
        .iter()
        .filter_map(|entry| entry["target"].as_str())
        .collect();
    assert_eq!(
        targets,
        [
            "x86_64-unknown-linux-gnu",
            "aarch64-unknown-linux-gnu",
            "x86_64-apple-darwin",
            "aarch64-apple-darwin"
        ]
    );
    let runs = job_runs(&release, "build").join("\n");
    assert!(runs.contains("sha256"), "archives get a sha256 file");
}
