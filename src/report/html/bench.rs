//! The bench page and its picture: every sample drawn on one shared axis (dots, the interquartile
//! box, the median and its 95% interval), the comparisons and their verdicts, the warnings.
//! The same picture is `bench --plot`'s SVG.

use super::{page, Head, Html, TEMPLATES};
use crate::report::bench::BenchReport;
use crate::report::terminal::{short, Unit};
use crate::report::Render;
use serde::Serialize;

/// Dots drawn per statement at most (evenly picked); the box and interval use every sample.
const DOTS: usize = 2_000;
const COLORS: [&str; 6] = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"];

#[derive(Serialize)]
struct Row {
    label: String,
    stmt: String,
    color: &'static str,
    y: f64,
    q1: f64,
    q3: f64,
    ci_low: f64,
    ci_high: f64,
    median: f64,
    tip: String,
    dots: Vec<(f64, f64, String)>,
    shown: usize,
    n: usize,
}

#[derive(Serialize)]
struct Plot {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    axis_y: f64,
    unit: &'static str,
    rows: Vec<Row>,
    ticks: Vec<(f64, String)>,
}

fn plot(r: &BenchReport) -> Plot {
    let (w, row, left, right, top) = (900.0, 70.0, 90.0, 30.0, 50.0);
    let h = top + row * r.statements.len() as f64 + 40.0;
    let all = || r.statements.iter().flat_map(|s| s.samples.iter().flatten().copied());
    let lo = all().fold(f64::INFINITY, f64::min);
    let hi = all().fold(0.0, f64::max);
    let (k, unit) = Unit::auto(lo.max(1e-12)).scale();
    let pad = ((hi - lo) * 0.05).max(hi * 1e-3);
    let (x0, x1) = ((lo - pad).max(0.0), hi + pad);
    let x = |v: f64| left + (v - x0) / (x1 - x0).max(1e-30) * (w - left - right);
    let fmt = |v: f64| format!("{:.3} {unit}", v * k);
    let rows = r
        .statements
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let cy = top + row * i as f64 + row / 2.0;
            let samples: Vec<f64> = s.samples.iter().flatten().copied().collect();
            let step = samples.len().div_ceil(DOTS).max(1);
            // A fixed pseudo-random jitter: the same report draws the same picture.
            let mut j = 0u64;
            let dots: Vec<_> = samples
                .iter()
                .step_by(step)
                .map(|&v| {
                    j = j.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let dy = ((j >> 33) % 21) as f64 - 10.0;
                    (x(v), cy + dy, fmt(v))
                })
                .collect();
            Row {
                label: s.label.clone(),
                stmt: short(&s.stmt, 100),
                color: COLORS[i % COLORS.len()],
                y: cy,
                q1: x(s.q1),
                q3: x(s.q3).max(x(s.q1) + 1.0),
                ci_low: x(s.ci_low),
                ci_high: x(s.ci_high).max(x(s.ci_low) + 1.0),
                median: x(s.median),
                tip: format!(
                    "{}: median {}, 95% interval {} – {}, IQR {} – {}, n {}",
                    s.label,
                    fmt(s.median),
                    fmt(s.ci_low),
                    fmt(s.ci_high),
                    fmt(s.q1),
                    fmt(s.q3),
                    s.n
                ),
                shown: dots.len(),
                n: samples.len(),
                dots,
            }
        })
        .collect();
    let ticks = (0..=5)
        .map(|t| {
            let v = x0 + (x1 - x0) * t as f64 / 5.0;
            (x(v), format!("{:.3}", v * k))
        })
        .collect();
    Plot {
        w,
        h,
        left,
        right,
        axis_y: top + row * r.statements.len() as f64 + 5.0,
        unit,
        rows,
        ticks,
    }
}

/// The samples as a standalone SVG (`bench --plot`).
pub fn plot_svg(r: &BenchReport) -> String {
    TEMPLATES
        .get_template("bench_plot.svg")
        .and_then(|t| t.render(minijinja::context! { plot => minijinja::value::Serde(plot(r)), standalone => true }))
        .unwrap_or_else(|e| panic!("template bench_plot.svg: {e:#}"))
}

impl Render<BenchReport> for Html {
    fn render(&self, r: &BenchReport) -> String {
        let title = match r.statements.len() {
            1 => short(&r.statements[0].stmt, 80),
            n => format!("{n} statements"),
        };
        let place = if r.in_process {
            "rounds in this process"
        } else {
            "processes"
        };
        let meta = vec![
            format!("Python {}", r.python),
            format!("{} {place}", r.processes),
            format!("{:.1} s", r.wall_seconds),
            format!("{}, GC {}", r.timer, if r.gc { "on" } else { "off" }),
        ];
        let partial = (r.stop == crate::record::bench::Stop::Interrupted)
            .then(|| "interrupted; the figures are the samples taken until then.".to_string());
        let base = r.statements.first().map_or(0.0, |s| s.median);
        let (k, unit) = Unit::auto(base).scale();
        let model = serde_json::json!({
            "r": r,
            "plot": plot(r),
            "unit": unit,
            "k": k,
        });
        page("bench.html", Head::new("bench", title, meta, partial), model, &())
    }
}
