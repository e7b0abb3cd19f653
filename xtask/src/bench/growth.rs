//! How the cost grows: throughput and latency of stateless + JWT against the work a call
//! asks (`n_dice`, the size of a `roll` expression) and against concurrency (1 … 256); and
//! memory against sessions held open (stateful `/mcp` sessions, `/sse` streams).

use std::time::Duration;

use anyhow::Context;

use super::{Bench, memory_kib, report::GrowthPoint, report::HeldSessions, session, wrk};
use crate::server::Server;

/// `roll_dice` sizes.
const N_DICE: [u32; 3] = [1, 100, 1000];
/// Concurrencies for the latency curve.
const CONCURRENCY: [u32; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/// The concurrency of the work-size points.
const AT: u32 = 16;
/// Sessions held open for the memory points, cumulatively.
const HELD: [usize; 3] = [0, 1_000, 10_000];

/// `dice-mcp serve`'s default `--session-rest` (a session rests within 1.5× of it: the
/// resting pass runs every half period).
const SESSION_REST: Duration = Duration::from_secs(30);

/// The RSS of `pid` once it has stopped falling (two readings a second apart within 1 %),
/// at most 40 s on.
fn settled_rss(pid: u32) -> u64 {
    let mut last = memory_kib(pid, "VmRSS");
    for _ in 0..40 {
        std::thread::sleep(Duration::from_secs(1));
        let now = memory_kib(pid, "VmRSS");
        if now.abs_diff(last) * 100 <= last {
            return now;
        }
        last = now;
    }
    last
}

/// `roll` expressions of growing size: one term, 16 terms, and 48 terms near the
/// 256-byte limit.
fn expressions() -> [(String, String); 3] {
    let terms = |n: usize| vec!["2d6"; n].join("+");
    [
        ("1 term".to_owned(), "2d6".to_owned()),
        ("16 terms".to_owned(), terms(16)),
        ("48 terms".to_owned(), terms(48)),
    ]
}

/// Measures the work-size and concurrency series on `server` (stateless, tokens required)
/// with `jwt`'s URL and headers.
pub(super) fn load(bench: &mut Bench, server: &Server, jwt: &wrk::Target) -> anyhow::Result<()> {
    let call = |arguments: String, name: &str| wrk::Target {
        url: jwt.url.clone(),
        headers: jwt.headers.clone(),
        body: format!(
            r#"{{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{{"name":"{name}","arguments":{arguments}}}}}"#
        ),
    };
    for n in N_DICE {
        let target = call(format!(r#"{{"n_dice":{n}}}"#), "roll_dice");
        point(
            bench,
            server,
            &target,
            "roll_dice n_dice",
            n.to_string(),
            AT,
        )?;
    }
    for (label, expression) in expressions() {
        let target = call(format!(r#"{{"expression":"{expression}"}}"#), "roll");
        let x = format!("{label} ({} bytes)", expression.len());
        point(bench, server, &target, "roll expression", x, AT)?;
    }
    for concurrency in CONCURRENCY {
        point(
            bench,
            server,
            jwt,
            "concurrency (roll_dice n_dice=3)",
            concurrency.to_string(),
            concurrency,
        )?;
    }
    Ok(())
}

/// One point of a series: a short warm-up, then a measured run.
fn point(
    bench: &mut Bench,
    server: &Server,
    target: &wrk::Target,
    series: &str,
    x: String,
    concurrency: u32,
) -> anyhow::Result<()> {
    let script = wrk::script(&bench.dir, &format!("growth {series} {x}"), target)?;
    eprintln!("bench: {series} = {x}");
    wrk::run(&script, &target.url, concurrency, 1)?;
    let measured = wrk::run(&script, &target.url, concurrency, bench.seconds)?;
    bench.growth.push(GrowthPoint {
        series: series.to_owned(),
        x,
        concurrency,
        measured,
        peak_rss_kib: memory_kib(server.pid(), "VmHWM"),
    });
    Ok(())
}

/// RSS with 0, 1 000 and 10 000 sessions held open: stateful `/mcp` sessions (initialized
/// and left open; then again once they rest) and `/sse` streams (open, never read past
/// their headers). `serve` starts
/// a server with the given extra flags.
pub(super) fn held_sessions(
    runtime: &tokio::runtime::Runtime,
    serve: &dyn Fn(&[&str]) -> anyhow::Result<Server>,
) -> anyhow::Result<Vec<HeldSessions>> {
    let room = [
        "--max-sessions",
        "20000",
        "--max-connections",
        "15000",
        "--session-idle",
        "30m",
    ];
    let mut points = Vec::new();
    for (kind, transport) in [("stateful /mcp", "streamable"), ("/sse", "sse")] {
        eprintln!("bench: RSS with {kind} sessions held open");
        let server = serve(&[&["--transport", transport][..], &room].concat())?;
        let mut held = Vec::new();
        for count in HELD {
            let more = count - held.len();
            let opened = match transport {
                "sse" => runtime.block_on(session::hold_sse(&server.url, more))?,
                _ => runtime.block_on(session::hold_stateful(&server.url, more))?,
            };
            held.extend(opened);
            std::thread::sleep(Duration::from_millis(500));
            points.push(HeldSessions {
                kind: kind.to_owned(),
                sessions: count,
                rss_kib: memory_kib(server.pid(), "VmRSS"),
            });
        }
        if transport == "streamable" {
            // The same sessions once they rest (`--session-rest`, 30 s by default) and
            // jemalloc has handed the freed pages back (its decay, about 10 s).
            let kind = format!("{kind}, resting");
            eprintln!("bench: RSS once the {kind} sessions rest (about 45 s)");
            let base = points
                .iter()
                .find(|point| point.sessions == 0)
                .map_or(0, |point| point.rss_kib);
            points.push(HeldSessions {
                kind: kind.clone(),
                sessions: 0,
                rss_kib: base,
            });
            std::thread::sleep(SESSION_REST * 3 / 2 + Duration::from_secs(2));
            points.push(HeldSessions {
                kind,
                sessions: held.len(),
                rss_kib: settled_rss(server.pid()),
            });
        }
        drop(held);
        server
            .stop()
            .with_context(|| format!("stopping the {kind} server"))?;
    }
    Ok(points)
}

/// RSS of `server` with 0 and 10 000 idle HTTP/1.1 keep-alive connections held open: what a
/// connection alone costs (the floor under an `/sse` stream), for `name`.
pub(super) fn held_connections(
    runtime: &tokio::runtime::Runtime,
    name: &str,
    server: &Server,
) -> anyhow::Result<Vec<HeldSessions>> {
    let kind = format!("idle HTTP/1.1 connection, {name}");
    eprintln!("bench: RSS with {kind}s held open");
    std::thread::sleep(Duration::from_millis(300));
    let mut points = vec![HeldSessions {
        kind: kind.clone(),
        sessions: 0,
        rss_kib: memory_kib(server.pid(), "VmRSS"),
    }];
    let count = HELD[HELD.len() - 1];
    let held = runtime.block_on(session::hold_connections(&server.url, count))?;
    std::thread::sleep(Duration::from_millis(500));
    points.push(HeldSessions {
        kind,
        sessions: held.len(),
        rss_kib: memory_kib(server.pid(), "VmRSS"),
    });
    drop(held);
    Ok(points)
}
