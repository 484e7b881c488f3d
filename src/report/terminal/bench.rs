//! The bench report as a terminal table.

use super::*;
use crate::report::bench::BenchReport;
use crate::report::Render;
use std::fmt::Write;

impl Render<BenchReport> for Terminal {
    fn render(&self, r: &BenchReport) -> String {
        bench(r, self.unit, self.verbose)
    }
}

fn bench(r: &BenchReport, unit: Option<Unit>, verbose: bool) -> String {
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
    if r.stop == crate::record::bench::Stop::Interrupted {
        let _ = writeln!(
            o,
            "{WARN}STOPPED EARLY{WARN:#}: interrupted; the figures are the samples taken until then"
        );
    }
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
