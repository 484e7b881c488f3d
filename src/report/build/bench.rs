//! Samples → the bench report: statistics, comparisons and warnings.

use crate::record::bench::{label, Options, Samples, Stop};
use crate::report::bench::*;
use crate::stats;

const BOOTSTRAP_ITERATIONS: usize = 2000;
const MIN_MARGIN: f64 = 0.01;

pub fn build(s: &Samples, opts: &Options, python: &str, in_process: bool) -> BenchReport {
    let statements = statements(s, opts);
    let comparisons = comparisons(s, opts, statements.len());
    let warnings = statements
        .iter()
        .enumerate()
        .flat_map(|(i, st)| warnings(s, opts, i, st))
        .collect();
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

fn statements(s: &Samples, opts: &Options) -> Vec<Statement> {
    opts.stmts
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
        .collect()
}

/// Each statement after the first against the first, with a verdict.
fn comparisons(s: &Samples, opts: &Options, k: usize) -> Vec<Comparison> {
    // Differences smaller than this are not called, however narrow the interval: code layout alone
    // moves a statement by about 1%.
    let eps = opts.precision.max(MIN_MARGIN);
    (1..k)
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
        .collect()
}

/// What may make statement `i`'s figures untrustworthy.
fn warnings(s: &Samples, opts: &Options, i: usize, st: &Statement) -> Vec<Warning> {
    let mut warnings = Vec::new();
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
            message: format!(
                "{}: the first run in each process was {:.1}x slower than the rest: a result may be cached",
                st.label,
                warm / st.median
            ),
            hint:
                "the figures are the warm case; move one-time work into --setup, or undo the caching in the statement"
                    .into(),
        });
    }
    warnings
}
