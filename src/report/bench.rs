//! The bench report: per-statement statistics, the comparison of each statement with the first,
//! and warnings about stability, built from raw samples; plus its terminal rendering.

use crate::record::bench::{label, Options, Samples, Stop};
use crate::stats;
use anstyle::{AnsiColor, Style};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

pub const SCHEMA: &str = "refscope.bench";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchReport {
    pub schema: String,
    pub schema_version: u32,
    pub refscope_version: String,
    pub python: String,
    pub setup: String,
    /// `perf_counter` (wall clock) or `process_time` (CPU time of the worker).
    pub timer: String,
    pub gc: bool,
    /// Processes used (for callables: rounds in the calling process).
    pub processes: u32,
    pub in_process: bool,
    pub wall_seconds: f64,
    /// `precision`, `budget` or `repeat`: why sampling stopped.
    pub stop: Stop,
    /// The asked relative half-width of each interval (0.01 = ±1%).
    pub precision: f64,
    pub time_budget: f64,
    pub statements: Vec<Statement>,
    pub comparisons: Vec<Comparison>,
    pub warnings: Vec<Warning>,
}

/// Times are seconds per loop (one execution of the statement).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Statement {
    pub label: String,
    pub stmt: String,
    pub loops: u64,
    pub n: usize,
    pub median: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// `(ci_high - ci_low) / 2 / median`.
    pub rel_half_width: f64,
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
    /// Measured samples, one list per process, in time order.
    pub samples: Vec<Vec<f64>>,
    /// The discarded first sample of each process.
    pub warmups: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    pub label: String,
    pub baseline: String,
    /// Median of this statement over the median of the baseline (below 1: faster).
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// `faster`, `slower` or `same` (no significant difference).
    pub verdict: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Warning {
    pub label: Option<String>,
    /// `imprecise`, `outliers`, `drift` or `cached`.
    pub kind: String,
    pub message: String,
    pub hint: String,
}

const BOOTSTRAP_ITERATIONS: usize = 2000;
const MIN_MARGIN: f64 = 0.01;

pub fn build(s: &Samples, opts: &Options, python: &str, in_process: bool) -> BenchReport {
    let statements: Vec<Statement> = opts
        .stmts
        .iter()
        .enumerate()
        .map(|(i, stmt)| {
            let sum = stats::summarize(&s.flat(i));
            Statement {
                label: label(i),
                stmt: stmt.clone(),
                loops: s.loops.get(i).copied().unwrap_or(0),
                n: sum.n,
                median: sum.median,
                ci_low: sum.ci.0,
                ci_high: sum.ci.1,
                rel_half_width: sum.rel_half_width(),
                q1: sum.q1,
                q3: sum.q3,
                min: sum.min,
                max: sum.max,
                samples: s.measured[i].iter().filter(|p| !p.is_empty()).cloned().collect(),
                warmups: s.warmups[i].clone(),
            }
        })
        .collect();
    // Differences smaller than this are not called, however narrow the interval: code layout alone
    // moves a statement by about 1%.
    let eps = opts.precision.max(MIN_MARGIN);
    let comparisons = (1..statements.len())
        .map(|i| {
            let (ratio, (lo, hi)) = stats::ratio_ci(&s.measured[0], &s.measured[i], BOOTSTRAP_ITERATIONS);
            let (b, a) = (label(i), label(0));
            let (verdict, text) = if hi < 1.0 - eps {
                ("faster", format!("{b} is {:.2}x faster than {a} ({:.2}–{:.2})", 1.0 / ratio, 1.0 / hi, 1.0 / lo))
            } else if lo > 1.0 + eps {
                ("slower", format!("{b} is {ratio:.2}x slower than {a} ({lo:.2}–{hi:.2})"))
            } else {
                (
                    "same",
                    format!("no significant difference between {b} and {a} (ratio {ratio:.3}, {lo:.3}–{hi:.3}; differences under ±{:.1}% are not called)", eps * 100.0),
                )
            };
            Comparison { label: b, baseline: a, ratio, ci_low: lo, ci_high: hi, verdict: verdict.into(), text }
        })
        .collect();
    let mut warnings = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        let l = Some(st.label.clone());
        if opts.repeat.is_none() && st.rel_half_width > opts.precision {
            warnings.push(Warning {
                label: l.clone(),
                kind: "imprecise".into(),
                message: format!(
                    "{}: the interval is ±{:.1}% after {:.1} s, wider than the ±{:.1}% asked",
                    st.label,
                    st.rel_half_width * 100.0,
                    s.wall_seconds,
                    opts.precision * 100.0
                ),
                hint: "raise --time-budget, or close other busy programs".into(),
            });
        }
        let flat = s.flat(i);
        let out = stats::outlier_share(&flat);
        if out > 0.05 {
            warnings.push(Warning {
                label: l.clone(),
                kind: "outliers".into(),
                message: format!(
                    "{}: {:.0}% of samples are far outliers: the result may be unstable",
                    st.label,
                    out * 100.0
                ),
                hint: "something else used the machine; rerun when it is idle".into(),
            });
        }
        let rho = stats::trend(&flat);
        if flat.len() >= 20 && rho.abs() > 0.6 {
            warnings.push(Warning {
                label: l.clone(),
                kind: "drift".into(),
                message: format!(
                    "{}: times got {} during the run (rank correlation with time {rho:.2})",
                    st.label,
                    if rho > 0.0 { "slower" } else { "faster" }
                ),
                hint: "the machine's speed changed (load, power saving, heat); rerun on an idle machine".into(),
            });
        }
        let warm = stats::summarize(&st.warmups).median;
        if st.warmups.len() >= 2 && warm > 1.5 * st.median {
            warnings.push(Warning {
                label: l,
                kind: "cached".into(),
                message: format!("{}: the first run in each process was {:.1}x slower than the rest: a result may be cached", st.label, warm / st.median),
                hint: "the figures are the warm case; move one-time work into --setup, or undo the caching in the statement".into(),
            });
        }
    }
    BenchReport {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        refscope_version: env!("CARGO_PKG_VERSION").into(),
        python: python.into(),
        setup: opts.setup.clone(),
        timer: if opts.process_time {
            "process_time"
        } else {
            "perf_counter"
        }
        .into(),
        gc: opts.gc,
        processes: s.processes,
        in_process,
        wall_seconds: s.wall_seconds,
        stop: s.stop.unwrap_or(Stop::Budget),
        precision: opts.precision,
        time_budget: opts.time_budget(),
        statements,
        comparisons,
        warnings,
    }
}

impl BenchReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }
}

/// A time unit for a table: timeit's names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Nsec,
    Usec,
    Msec,
    Sec,
}

impl Unit {
    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s {
            "nsec" => Unit::Nsec,
            "usec" => Unit::Usec,
            "msec" => Unit::Msec,
            "sec" => Unit::Sec,
            _ => return None,
        })
    }
    fn auto(seconds: f64) -> Unit {
        if seconds < 1e-6 {
            Unit::Nsec
        } else if seconds < 1e-3 {
            Unit::Usec
        } else if seconds < 1.0 {
            Unit::Msec
        } else {
            Unit::Sec
        }
    }
    fn scale(self) -> (f64, &'static str) {
        match self {
            Unit::Nsec => (1e9, "ns"),
            Unit::Usec => (1e6, "µs"),
            Unit::Msec => (1e3, "ms"),
            Unit::Sec => (1.0, "s"),
        }
    }
}

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const HEAD: Style = AnsiColor::Cyan.on_default().bold();
const GOOD: Style = AnsiColor::Green.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();

fn short(stmt: &str, width: usize) -> String {
    let one: String = stmt.replace('\n', "; ");
    if one.chars().count() <= width {
        one
    } else {
        format!("{}…", one.chars().take(width - 1).collect::<String>())
    }
}

pub fn render(r: &BenchReport, unit: Option<Unit>, verbose: bool) -> String {
    let mut o = String::new();
    let base = r.statements.first().map(|s| s.median).unwrap_or(0.0);
    let (k, u) = unit.unwrap_or_else(|| Unit::auto(base)).scale();
    let t = |x: f64| format!("{:.3}", x * k);
    let place = if r.in_process {
        "rounds in this process"
    } else {
        "processes"
    };
    let _ = writeln!(
        o,
        "{HEAD}refscope bench{HEAD:#}  ·  Python {}  ·  {} {place}  ·  {:.1} s  ·  {}, GC {}",
        r.python,
        r.processes,
        r.wall_seconds,
        r.timer,
        if r.gc { "on" } else { "off" }
    );
    let _ = writeln!(
        o,
        "{BOLD}     {:>10} {:>22} {:>6} {:>9} {:>9} {:>5} {:>11}  statement{BOLD:#}",
        format!("median {u}"),
        "95% CI",
        "±",
        "IQR",
        "min",
        "n",
        "loops"
    );
    for s in &r.statements {
        let _ = writeln!(
            o,
            "  {BOLD}{}{BOLD:#}  {:>10} {:>22} {:>5.1}% {:>9} {:>9} {:>5} {:>11}  {}",
            s.label,
            t(s.median),
            format!("{}–{}", t(s.ci_low), t(s.ci_high)),
            s.rel_half_width * 100.0,
            t(s.q3 - s.q1),
            t(s.min),
            s.n,
            s.loops,
            short(&s.stmt, 60)
        );
        if verbose {
            for (p, xs) in s.samples.iter().enumerate() {
                let v: Vec<String> = xs.iter().map(|x| t(*x)).collect();
                let _ = writeln!(o, "{DIM}      process {:>3}: {}{DIM:#}", p + 1, v.join(" "));
            }
        }
    }
    if !r.comparisons.is_empty() {
        let _ = writeln!(o);
    }
    for c in &r.comparisons {
        let st = if c.verdict == "same" { Style::new() } else { GOOD };
        let _ = writeln!(o, "{st}{}{st:#}", c.text);
    }
    for w in &r.warnings {
        let _ = writeln!(
            o,
            "{WARN}warning{WARN:#}: {}\n  {DIM}hint: {}{DIM:#}",
            w.message, w.hint
        );
    }
    o
}

/// An SVG strip plot of every statement's samples: dots, the interquartile box, the median and
/// its interval, on one shared axis. Self-contained; no scripts, no fonts to fetch.
pub fn plot(r: &BenchReport) -> String {
    let (w, row, left, right, top) = (900.0, 70.0, 90.0, 30.0, 50.0);
    let h = top + row * r.statements.len() as f64 + 40.0;
    let all: Vec<f64> = r
        .statements
        .iter()
        .flat_map(|s| s.samples.iter().flatten().copied())
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(0.0, f64::max);
    let (k, u) = Unit::auto(lo.max(1e-12)).scale();
    let pad = ((hi - lo) * 0.05).max(hi * 1e-3);
    let (x0, x1) = ((lo - pad).max(0.0), hi + pad);
    let x = |v: f64| left + (v - x0) / (x1 - x0).max(1e-30) * (w - left - right);
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="22" font-size="15" font-weight="bold">refscope bench: time per loop ({u})</text>
"##
    );
    let colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"];
    for (i, s) in r.statements.iter().enumerate() {
        let cy = top + row * i as f64 + row / 2.0;
        let c = colors[i % colors.len()];
        let _ = writeln!(
            o,
            r##"<text x="10" y="{:.1}" font-weight="bold">{}</text><text x="{left}" y="{:.1}" fill="#555">{}</text>"##,
            cy + 4.0,
            s.label,
            cy - 20.0,
            xml(&short(&s.stmt, 100))
        );
        let _ = writeln!(
            o,
            r#"<rect class="iqr" x="{:.1}" y="{:.1}" width="{:.1}" height="28" fill="{c}" fill-opacity="0.15" stroke="{c}"/>"#,
            x(s.q1),
            cy - 14.0,
            (x(s.q3) - x(s.q1)).max(1.0)
        );
        let _ = writeln!(
            o,
            r#"<rect class="ci" x="{:.1}" y="{:.1}" width="{:.1}" height="28" fill="{c}" fill-opacity="0.35"/>"#,
            x(s.ci_low),
            cy - 14.0,
            (x(s.ci_high) - x(s.ci_low)).max(1.0)
        );
        let _ = writeln!(
            o,
            r#"<line class="median" x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="{c}" stroke-width="3"/>"#,
            x(s.median),
            cy - 18.0,
            cy + 18.0
        );
        let mut j = 0u64;
        for v in s.samples.iter().flatten() {
            j = j.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let dy = ((j >> 33) % 21) as f64 - 10.0;
            let _ = writeln!(
                o,
                r#"<circle class="sample" cx="{:.1}" cy="{:.1}" r="2.2" fill="{c}" fill-opacity="0.7"/>"#,
                x(*v),
                cy + dy
            );
        }
    }
    let axis_y = top + row * r.statements.len() as f64 + 5.0;
    let _ = writeln!(
        o,
        r##"<line x1="{left}" x2="{:.1}" y1="{axis_y:.1}" y2="{axis_y:.1}" stroke="#333"/>"##,
        w - right
    );
    for t in 0..=5 {
        let v = x0 + (x1 - x0) * t as f64 / 5.0;
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{:.3}</text>"#,
            x(v),
            axis_y + 18.0,
            v * k
        );
    }
    o.push_str("</svg>\n");
    o
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
