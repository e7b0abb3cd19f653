//! What the bench found: each row at each concurrency with its ratios to the axum baseline
//! and to FastMCP, plus start-up, size and memory; printed as markdown tables and written
//! as `target/bench/results.json`.

use std::{fs, path::Path};

use anyhow::Context;
use serde::Serialize;

use super::wrk::Measured;

/// One row at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    /// The row's name, e.g. `dice-mcp stateless + JWT`.
    #[serde(rename = "server")]
    pub row: String,
    pub concurrency: u32,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// The server's peak RSS (`VmHWM`) after this point.
    pub peak_rss_kib: u64,
}

impl Measure {
    /// Row `row` at `concurrency`: what the load measured, and the server's peak RSS.
    pub fn new(row: &str, concurrency: u32, measured: Measured, peak_rss_kib: u64) -> Self {
        Self {
            row: row.to_owned(),
            concurrency,
            requests_per_sec: measured.requests_per_sec,
            p50_ms: measured.p50_ms,
            p99_ms: measured.p99_ms,
            errors: measured.errors,
            peak_rss_kib,
        }
    }
}

/// One point of a growth series: the work asked (or the concurrency) and what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct GrowthPoint {
    /// What grows, e.g. `roll_dice n_dice`.
    pub series: String,
    /// Its value at this point.
    pub x: String,
    pub concurrency: u32,
    #[serde(flatten)]
    pub measured: Measured,
    pub peak_rss_kib: u64,
}

/// The server's RSS with `sessions` of a kind held open.
#[derive(Debug, Clone, Serialize)]
pub struct HeldSessions {
    /// `stateful /mcp` or `/sse`.
    pub kind: String,
    pub sessions: usize,
    pub rss_kib: u64,
}

/// Start-up, size and memory, measured outside the load.
#[derive(Debug, Clone, Serialize)]
pub struct Extras {
    /// Exec to the first `200` on `/healthz`, median of the runs.
    pub cold_start_ms_median: f64,
    /// Every run, sorted.
    pub cold_start_ms_all: Vec<f64>,
    pub binary_bytes: u64,
    /// The server-only build (launcher without the `tunnel` feature).
    pub binary_server_only_bytes: u64,
    pub rss_idle_kib: u64,
    pub rss_after_10000_sessions_kib: u64,
    pub rss_peak_during_10000_sessions_kib: u64,
    pub seconds_for_10000_sessions: f64,
    /// How long all the load rows took.
    pub load_seconds: f64,
    pub measure_seconds_per_point: u64,
}

/// A row of `results.json`: the measure and its ratios.
#[derive(Debug, Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    measure: &'a Measure,
    ratio_to_axum: Option<f64>,
    ratio_to_fastmcp: Option<f64>,
}

/// `results.json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    rows: Vec<Row<'a>>,
    extras: &'a Extras,
    growth: &'a [GrowthPoint],
    held_sessions: &'a [HeldSessions],
}

/// Requests/s of the first row whose name matches, at `concurrency`.
fn rate_of(results: &[Measure], concurrency: u32, is_row: impl Fn(&str) -> bool) -> Option<f64> {
    results
        .iter()
        .find(|m| is_row(&m.row) && m.concurrency == concurrency)
        .map(|m| m.requests_per_sec)
}

/// `value / base`, when there is a base to divide by.
fn ratio(value: f64, base: Option<f64>) -> Option<f64> {
    base.filter(|base| *base > 0.0).map(|base| value / base)
}

fn rows(results: &[Measure]) -> Vec<Row<'_>> {
    results
        .iter()
        .map(|measure| {
            let baseline = rate_of(results, measure.concurrency, |row| row.contains("baseline"));
            let fastmcp = rate_of(results, measure.concurrency, |row| {
                row.starts_with("FastMCP")
            });
            Row {
                measure,
                ratio_to_axum: ratio(measure.requests_per_sec, baseline),
                ratio_to_fastmcp: ratio(measure.requests_per_sec, fastmcp),
            }
        })
        .collect()
}

/// Prints the tables and writes `dir/results.json`.
pub fn write(
    results: &[Measure],
    growth: &[GrowthPoint],
    held_sessions: &[HeldSessions],
    extras: &Extras,
    dir: &Path,
) -> anyhow::Result<()> {
    let report = Report {
        rows: rows(results),
        extras,
        growth,
        held_sessions,
    };
    print!("{}", table(&report));
    print!("{}", growth_tables(&report));
    let path = dir.join("results.json");
    fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("could not write {}", path.display()))?;
    println!("\nJSON: {}", path.display());
    Ok(())
}

fn table(report: &Report<'_>) -> String {
    let shown = |ratio: Option<f64>| ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"));
    // Without --peers there is no FastMCP row, and the column would be all dashes.
    let versus_fastmcp = report.rows.iter().any(|row| row.ratio_to_fastmcp.is_some());
    let mut out = String::from(
        "\n| server | c | requests/s | p50 ms | p99 ms | errors | peak RSS MiB | vs axum |",
    );
    out.push_str(if versus_fastmcp {
        " vs FastMCP |\n|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "\n|---|---|---|---|---|---|---|---|\n"
    });
    for row in &report.rows {
        let m = row.measure;
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {} |",
            m.row,
            m.concurrency,
            m.requests_per_sec,
            m.p50_ms,
            m.p99_ms,
            m.errors,
            mib(m.peak_rss_kib),
            shown(row.ratio_to_axum),
        ));
        if versus_fastmcp {
            out.push_str(&format!(" {} |", shown(row.ratio_to_fastmcp)));
        }
        out.push('\n');
    }
    let extras = report.extras;
    out.push_str(&format!(
        "\ncold start (exec to first 200 on /healthz), median of {}: {:.1} ms\nbinary: {:.1} MiB (server-only, without `tunnel`: {:.1} MiB)\n\
         RSS idle: {:.1} MiB; after 10 000 stateful sessions opened and closed: {:.1} MiB (peak {:.1} MiB)\n",
        extras.cold_start_ms_all.len(),
        extras.cold_start_ms_median,
        extras.binary_bytes as f64 / 1_048_576.0,
        extras.binary_server_only_bytes as f64 / 1_048_576.0,
        mib(extras.rss_idle_kib),
        mib(extras.rss_after_10000_sessions_kib),
        mib(extras.rss_peak_during_10000_sessions_kib),
    ));
    out
}

/// How the cost grows: one table of the series, one of memory against sessions held.
fn growth_tables(report: &Report<'_>) -> String {
    let mut out = String::new();
    if !report.growth.is_empty() {
        out.push_str(
            "\n| dice-mcp stateless + JWT: series | x | c | requests/s | p50 ms | p99 ms | errors |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for point in report.growth {
            out.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |\n",
                point.series,
                point.x,
                point.concurrency,
                point.measured.requests_per_sec,
                point.measured.p50_ms,
                point.measured.p99_ms,
                point.measured.errors,
            ));
        }
    }
    if !report.held_sessions.is_empty() {
        out.push_str(
            "\n| sessions held open | count | RSS MiB | KiB per session |\n|---|---|---|---|\n",
        );
        for held in report.held_sessions {
            let none_held = report
                .held_sessions
                .iter()
                .find(|other| other.kind == held.kind && other.sessions == 0)
                .map(|other| other.rss_kib);
            let per_session = match none_held {
                Some(base) if held.sessions > 0 => format!(
                    "{:.1}",
                    held.rss_kib.saturating_sub(base) as f64 / held.sessions as f64
                ),
                _ => "-".to_owned(),
            };
            out.push_str(&format!(
                "| {} | {} | {:.1} | {} |\n",
                held.kind,
                held.sessions,
                mib(held.rss_kib),
                per_session
            ));
        }
    }
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(row: &str, concurrency: u32, requests_per_sec: f64) -> Measure {
        Measure {
            row: row.to_owned(),
            concurrency,
            requests_per_sec,
            p50_ms: 1.0,
            p99_ms: 2.0,
            errors: 0,
            peak_rss_kib: 2048,
        }
    }

    #[test]
    fn rows_get_ratios_to_the_baseline_and_fastmcp_at_the_same_concurrency() {
        let results = [
            measure("axum static JSON (baseline)", 1, 400.0),
            measure("axum static JSON (baseline)", 16, 1000.0),
            measure("dice-mcp stateless + JWT", 16, 500.0),
            measure("FastMCP 4.2.3 stateless + JWT", 16, 50.0),
        ];
        let rows = rows(&results);
        let ratios: Vec<_> = rows
            .iter()
            .map(|r| (r.ratio_to_axum, r.ratio_to_fastmcp))
            .collect();
        assert_eq!(
            ratios,
            [
                (Some(1.0), None),
                (Some(1.0), Some(20.0)),
                (Some(0.5), Some(10.0)),
                (Some(0.05), Some(1.0)),
            ]
        );
    }

    fn extras() -> Extras {
        Extras {
            cold_start_ms_median: 3.0,
            cold_start_ms_all: vec![2.0, 3.0, 4.0],
            binary_bytes: 1,
            binary_server_only_bytes: 1,
            rss_idle_kib: 2,
            rss_after_10000_sessions_kib: 3,
            rss_peak_during_10000_sessions_kib: 4,
            seconds_for_10000_sessions: 5.0,
            load_seconds: 6.0,
            measure_seconds_per_point: 7,
        }
    }

    #[test]
    fn the_fastmcp_column_is_shown_only_with_a_fastmcp_row() {
        let extras = extras();
        let without = [measure("axum static JSON (baseline)", 16, 1000.0)];
        let printed = table(&Report {
            rows: rows(&without),
            extras: &extras,
            growth: &[],
            held_sessions: &[],
        });
        assert!(!printed.contains("FastMCP"), "{printed}");
        assert!(printed.contains("| 1.00× |\n"), "{printed}");
        let with = [
            measure("axum static JSON (baseline)", 16, 1000.0),
            measure("FastMCP 4.2.3 stateless + JWT", 16, 50.0),
        ];
        let printed = table(&Report {
            rows: rows(&with),
            extras: &extras,
            growth: &[],
            held_sessions: &[],
        });
        assert!(printed.contains("| vs FastMCP |"), "{printed}");
        assert!(printed.contains("| 1.00× | 20.00× |\n"), "{printed}");
    }

    #[test]
    fn json_keeps_the_field_names_of_earlier_results() {
        let results = [measure("axum static JSON (baseline)", 1, 400.0)];
        let extras = extras();
        let report = Report {
            rows: rows(&results),
            extras: &extras,
            growth: &[],
            held_sessions: &[],
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["rows"][0],
            serde_json::json!({
                "server": "axum static JSON (baseline)", "concurrency": 1,
                "requests_per_sec": 400.0, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0,
                "peak_rss_kib": 2048, "ratio_to_axum": 1.0, "ratio_to_fastmcp": null,
            })
        );
        assert_eq!(json["extras"]["cold_start_ms_median"], 3.0);
        assert_eq!(json["extras"]["measure_seconds_per_point"], 7);
        assert_eq!(json["extras"]["binary_bytes"], 1);
        // Added beside the earlier fields, none renamed.
        assert_eq!(json["extras"]["binary_server_only_bytes"], 1);
        assert_eq!(json["extras"].as_object().map(|o| o.len()), Some(10));
    }

    #[test]
    fn memory_per_session_is_the_growth_over_none_held_of_the_same_kind() {
        let extras = extras();
        let held = |kind: &str, sessions, rss_kib| HeldSessions {
            kind: kind.to_owned(),
            sessions,
            rss_kib,
        };
        let held = [
            held("stateful /mcp", 0, 10_000),
            held("stateful /mcp", 1_000, 30_000),
            held("/sse", 0, 8_000),
            held("/sse", 1_000, 24_000),
        ];
        let printed = growth_tables(&Report {
            rows: Vec::new(),
            extras: &extras,
            growth: &[],
            held_sessions: &held,
        });
        assert!(
            printed.contains("| stateful /mcp | 1000 | 29.3 | 20.0 |"),
            "{printed}"
        );
        assert!(
            printed.contains("| /sse | 1000 | 23.4 | 16.0 |"),
            "{printed}"
        );
        assert!(printed.contains("| /sse | 0 | 7.8 | - |"), "{printed}");
    }
}
