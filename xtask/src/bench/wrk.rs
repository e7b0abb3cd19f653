//! Driving `wrk`: the Lua script that posts a `tools/call` with a unique JSON-RPC id per
//! request, the run pinned to CPU 1, and the reading of its `--latency` report.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The request every row measures; `ID` becomes a counter in the Lua script.
pub const CALL: &str = r#"{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":"roll_dice","arguments":{"n_dice":3}}}"#;

/// Where wrk sends its requests, with which extra headers and which body (a template in
/// which `ID` becomes the request's id).
pub struct Target {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Target {
    /// [`CALL`] to `url` with `headers`.
    pub fn call(url: &str, headers: Vec<(String, String)>) -> Self {
        Self {
            url: url.to_owned(),
            headers,
            body: CALL.to_owned(),
        }
    }
}

/// What a load run measured at one concurrency (wrk's, or the `/sse` client's).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx/3xx answers plus socket errors (connect, read, write, timeout).
    pub errors: u64,
}

/// Installs wrk from Debian when it is missing.
pub fn ensure_installed() -> anyhow::Result<()> {
    crate::install::debian_package("wrk", "wrk")
}

/// Writes `dir/NAME.lua` (`name` with every character but ASCII letters and digits made
/// `_`), which posts the target's body to it with its headers.
pub fn script(dir: &Path, name: &str, target: &Target) -> anyhow::Result<PathBuf> {
    let mut lua = String::from(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Accept\"] = \"application/json, text/event-stream\"\n",
    );
    for (key, value) in &target.headers {
        lua.push_str(&format!("wrk.headers[\"{key}\"] = \"{value}\"\n"));
    }
    let (before, after) = target
        .body
        .split_once("ID")
        .context("no ID in the request template")?;
    lua.push_str(&format!(
        "local id = 0\nrequest = function()\n  id = id + 1\n  return wrk.format(nil, nil, nil, '{before}' .. id .. '{after}')\nend\n"
    ));
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{file}.lua"));
    fs::write(&path, lua).with_context(|| format!("could not write {}", path.display()))?;
    Ok(path)
}

/// Runs wrk (one thread, pinned to CPU 1) with `script` against `url` and reads its report.
pub fn run(script: &Path, url: &str, concurrency: u32, seconds: u64) -> anyhow::Result<Measured> {
    let output = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{concurrency}"))
        .arg(format!("-d{seconds}s"))
        .args(["--timeout", "5s", "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("could not run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(parse_report(&text))
}

/// Reads requests/s, the 50th and 99th percentiles and the errors from wrk's report; what
/// is missing reads as 0.
fn parse_report(text: &str) -> Measured {
    let mut measured = Measured {
        requests_per_sec: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        errors: 0,
    };
    for line in text.lines() {
        let line = line.trim();
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            measured.requests_per_sec = value.trim().parse().unwrap_or(0.0);
        } else if let Some(value) = line.strip_prefix("50%") {
            measured.p50_ms = parse_duration_ms(value).unwrap_or(0.0);
        } else if let Some(value) = line.strip_prefix("99%") {
            measured.p99_ms = parse_duration_ms(value).unwrap_or(0.0);
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            measured.errors += value.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            measured.errors += value
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    measured
}

/// wrk's durations (`812.00us`, `1.25ms`, `2.01s`, `1.00m`) in milliseconds.
fn parse_duration_ms(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as wrk 4.2 prints it with `--latency`, errors included.
    const REPORT: &str = "\
Running 2s test @ http://127.0.0.1:41234/mcp
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.41us  301.12us   9.87ms   91.02%
    Req/Sec    19.71k   512.33    20.40k    80.00%
  Latency Distribution
     50%  760.00us
     75%  850.00us
     90%  1.01ms
     99%    2.05ms
  39214 requests in 2.00s, 12.34MB read
  Socket errors: connect 0, read 2, write 1, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:  19607.50
Transfer/sec:      6.17MB
";

    #[test]
    fn report_gives_rate_percentiles_and_every_error() {
        assert_eq!(
            parse_report(REPORT),
            Measured {
                requests_per_sec: 19607.5,
                p50_ms: 0.76,
                p99_ms: 2.05,
                errors: 12,
            }
        );
    }

    #[test]
    fn a_script_is_named_after_its_row_in_file_name_safe_characters() {
        let dir = std::env::temp_dir().join(format!("wrk-script-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = Target::call("http://127.0.0.1:1/mcp", vec![]);
        let path = script(&dir, "dice-mcp /sse + JWT (one)", &target).unwrap();
        assert_eq!(path, dir.join("dice_mcp__sse___JWT__one_.lua"));
        let lua = fs::read_to_string(&path).unwrap();
        assert!(lua.contains("' .. id .. '"), "{lua}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn durations_in_every_unit_wrk_prints() {
        assert_eq!(parse_duration_ms(" 500.00us"), Some(0.5));
        assert_eq!(parse_duration_ms("1.25ms"), Some(1.25));
        assert_eq!(parse_duration_ms("2.00s"), Some(2000.0));
        assert_eq!(parse_duration_ms("1.50m"), Some(90_000.0));
        assert_eq!(parse_duration_ms("3h"), None);
        assert_eq!(parse_duration_ms("fast"), None);
    }
}
