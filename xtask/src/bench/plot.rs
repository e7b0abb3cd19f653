//! `target/bench/growth.svg`: how the cost grows, as small charts beside the tables. Each
//! growth series gets one (requests/s against the work asked, or p99 against concurrency),
//! and the sessions held one more (RSS against how many are open, a line per kind).

use std::path::Path;

use plotters::prelude::*;

use super::report::{GrowthPoint, HeldSessions};

/// One chart: its title, what its y axis shows, the x labels in order, and its lines
/// (a name, and (index into the x labels, y) points).
#[derive(Debug, PartialEq)]
struct Chart {
    title: String,
    y_label: &'static str,
    x_labels: Vec<String>,
    lines: Vec<(String, Vec<(usize, f64)>)>,
}

/// The charts of a bench's growth series and held sessions, in the order they were measured.
fn charts(growth: &[GrowthPoint], held: &[HeldSessions]) -> Vec<Chart> {
    let mut charts = Vec::new();
    for series in first_seen(growth.iter().map(|point| point.series.as_str())) {
        let points: Vec<&GrowthPoint> = growth.iter().filter(|p| p.series == series).collect();
        // Against concurrency, throughput levels off by design; latency is what grows.
        let latency = series.starts_with("concurrency");
        let (y_label, line) = if latency {
            ("p99 ms", "p99")
        } else {
            ("requests/s", "requests/s")
        };
        let values = points
            .iter()
            .enumerate()
            .map(|(i, point)| {
                let y = if latency {
                    point.measured.p99_ms
                } else {
                    point.measured.requests_per_sec
                };
                (i, y)
            })
            .collect();
        charts.push(Chart {
            title: series.to_owned(),
            y_label,
            x_labels: points.iter().map(|point| point.x.clone()).collect(),
            lines: vec![(line.to_owned(), values)],
        });
    }
    if !held.is_empty() {
        let mut counts: Vec<usize> = held.iter().map(|h| h.sessions).collect();
        counts.sort_unstable();
        counts.dedup();
        let lines = first_seen(held.iter().map(|h| h.kind.as_str()))
            .into_iter()
            .map(|kind| {
                let points = held
                    .iter()
                    .filter(|h| h.kind == kind)
                    .filter_map(|h| {
                        let at = counts.iter().position(|count| *count == h.sessions)?;
                        Some((at, h.rss_kib as f64 / 1024.0))
                    })
                    .collect();
                (kind.to_owned(), points)
            })
            .collect();
        charts.push(Chart {
            title: "RSS with sessions or connections held open".to_owned(),
            y_label: "RSS MiB",
            x_labels: counts.iter().map(ToString::to_string).collect(),
            lines,
        });
    }
    charts
}

/// Each distinct item, in the order it first comes.
fn first_seen<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Writes the charts, two to a row, to `path` (nothing when there is nothing to chart).
pub fn write(growth: &[GrowthPoint], held: &[HeldSessions], path: &Path) -> anyhow::Result<()> {
    let charts = charts(growth, held);
    if charts.is_empty() {
        return Ok(());
    }
    let rows = charts.len().div_ceil(2);
    let height = u32::try_from(rows * 380).unwrap_or(u32::MAX);
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    let drawn = (|| {
        root.fill(&WHITE)?;
        for (chart, area) in charts.iter().zip(root.split_evenly((rows, 2)).iter()) {
            draw(chart, area)?;
        }
        root.present()
    })();
    drawn.map_err(|error| anyhow::anyhow!("could not draw {}: {error}", path.display()))
}

fn draw<DB: DrawingBackend>(
    chart: &Chart,
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let top = chart
        .lines
        .iter()
        .flat_map(|(_, points)| points.iter().map(|(_, y)| *y))
        .fold(0.0, f64::max);
    let mut context = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(34)
        .y_label_area_size(70)
        // A discrete range holds its end: 0..=last is one segment per label.
        .build_cartesian_2d(
            (0..chart.x_labels.len().saturating_sub(1)).into_segmented(),
            0.0..(top * 1.1).max(1.0),
        )?;
    let label = |value: &SegmentValue<usize>| match value {
        SegmentValue::CenterOf(i) => chart.x_labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    context
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(chart.x_labels.len())
        .x_label_formatter(&label)
        .y_label_formatter(&|y| {
            if top >= 100.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.1}")
            }
        })
        .light_line_style(TRANSPARENT)
        .y_desc(chart.y_label)
        .draw()?;
    for (k, (name, points)) in chart.lines.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let at = |(i, y): &(usize, f64)| (SegmentValue::CenterOf(*i), *y);
        context
            .draw_series(LineSeries::new(
                points.iter().map(at),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        context.draw_series(
            points
                .iter()
                .map(|point| Circle::new(at(point), 3, color.filled())),
        )?;
    }
    if chart.lines.len() > 1 {
        context
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::wrk::Measured;

    fn point(series: &str, x: &str, requests_per_sec: f64, p99_ms: f64) -> GrowthPoint {
        GrowthPoint {
            series: series.to_owned(),
            x: x.to_owned(),
            concurrency: 16,
            measured: Measured {
                requests_per_sec,
                p50_ms: 0.1,
                p99_ms,
                errors: 0,
            },
            peak_rss_kib: 1,
        }
    }

    fn held(kind: &str, sessions: usize, rss_kib: u64) -> HeldSessions {
        HeldSessions {
            kind: kind.to_owned(),
            sessions,
            rss_kib,
        }
    }

    fn sample() -> (Vec<GrowthPoint>, Vec<HeldSessions>) {
        let growth = vec![
            point("roll_dice n_dice", "1", 900.0, 1.0),
            point("roll_dice n_dice", "1000", 300.0, 2.0),
            point("concurrency (roll_dice n_dice=3)", "1", 100.0, 0.5),
            point("concurrency (roll_dice n_dice=3)", "256", 800.0, 9.0),
        ];
        let held = vec![
            held("stateful /mcp", 0, 1024),
            held("stateful /mcp", 10_000, 10_240),
            held("/sse", 0, 1024),
            held("/sse", 1_000, 2_048),
        ];
        (growth, held)
    }

    #[test]
    fn each_series_is_a_chart_and_held_sessions_one_more_with_a_line_per_kind() {
        let (growth, held) = sample();
        let made = charts(&growth, &held);
        assert_eq!(
            made[0],
            Chart {
                title: "roll_dice n_dice".to_owned(),
                y_label: "requests/s",
                x_labels: vec!["1".to_owned(), "1000".to_owned()],
                lines: vec![("requests/s".to_owned(), vec![(0, 900.0), (1, 300.0)])],
            }
        );
        // Against concurrency the chart is of latency.
        assert_eq!(made[1].y_label, "p99 ms");
        assert_eq!(made[1].lines[0].1, vec![(0, 0.5), (1, 9.0)]);
        // Counts from every kind, in order; each kind at its own counts, in MiB.
        assert_eq!(made[2].x_labels, ["0", "1000", "10000"]);
        assert_eq!(
            made[2].lines,
            vec![
                ("stateful /mcp".to_owned(), vec![(0, 1.0), (2, 10.0)]),
                ("/sse".to_owned(), vec![(0, 1.0), (1, 2.0)]),
            ]
        );
        assert!(charts(&[], &[]).is_empty());
    }

    #[test]
    fn the_svg_names_every_chart_and_label() {
        let (growth, held) = sample();
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("growth.svg");
        write(&growth, &held, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in [
            "roll_dice n_dice",
            "concurrency (roll_dice n_dice=3)",
            "RSS with sessions or connections held open",
            "stateful /mcp",
            "/sse",
            "10000",
            "p99 ms",
        ] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
        // A line per series (drawn 2 wide; axes and legend marks are 1 wide): 2 growth
        // charts, 2 kinds held.
        assert_eq!(svg.matches(r#"stroke-width="2""#).count(), 4, "{svg}");
    }
}
