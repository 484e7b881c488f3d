//! `refscope bench`: timeit's flags, trustworthy statistics, A-vs-B verdicts.

use super::output::Output;
use crate::bench;
use crate::error::Error;
use crate::record::bench::{label, Stop};
use crate::report::terminal::Unit;
use crate::report::{build, Html, Json, Render, Svg, Terminal};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pyo3::prelude::*;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    about = "Time statements like timeit, with a confidence interval and an A-vs-B verdict",
    long_about = "Time one or more statements the way `python -m timeit` does (its Timer, GC off while \
timing), in several fresh processes, until the median is known to ±PRECISION or the time budget is \
spent. Prints the median with its 95% confidence interval, IQR, min and the number of samples; with \
several statements, each is compared with the first (measured interleaved in the same processes) and \
given a verdict.\n\nUnlike timeit, several STMT arguments are separate statements to compare, not \
lines of one: give a multi-line statement as one argument (newlines, or `;` between simple \
statements). -s may be repeated; its parts are joined as lines, as timeit does.",
    after_help = "Examples:\n  refscope bench 'sum(range(1000))'\n  refscope bench -s 'xs = list(range(1000))' '[x*x for x in xs]' $'out = []\\nfor x in xs: out.append(x*x)'\n  refscope bench -n 10000 -r 30 -u usec 'str(12345)'\n  refscope bench --precision 0.5 --time-budget 10 --json out.json --plot out.svg 'sorted(data)' -s 'import random; data = random.sample(range(10**5), 10**5)'"
)]
pub struct BenchArgs {
    /// Setup run once per sample before the loop (repeatable; joined as lines)
    #[arg(short, long, value_name = "SETUP")]
    pub(crate) setup: Vec<String>,
    /// Loops per sample (default: calibrated so one sample takes about 20 ms)
    #[arg(short, long, value_name = "N")]
    pub(crate) number: Option<u64>,
    /// Samples per statement (default: until the interval reaches --precision)
    #[arg(short, long, value_name = "N")]
    pub(crate) repeat: Option<u32>,
    /// Time unit of the table: nsec, usec, msec or sec
    #[arg(short, long, value_name = "UNIT")]
    pub(crate) unit: Option<String>,
    /// Measure CPU time of the process (time.process_time) instead of wall time
    #[arg(short, long)]
    pub(crate) process: bool,
    /// Also print every sample
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// Stop sampling after about SECONDS even if the precision is not reached
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0, allow_negative_numbers = true)]
    pub(crate) time_budget: f64,
    /// Wanted half-width of each 95% interval, in percent of the median
    #[arg(long, value_name = "PERCENT", default_value_t = 0.5, allow_negative_numbers = true)]
    pub(crate) precision: f64,
    /// Keep the garbage collector on while timing (timeit turns it off)
    #[arg(long)]
    pub(crate) gc: bool,
    /// Also write the report, every sample included, as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Also draw the samples of every statement as an SVG to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page to FILE: every sample drawn, the
    /// intervals and the verdicts
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Print no terminal report (use with --json or --html)
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Statements to time (default: pass)
    #[arg(value_name = "STMT")]
    pub(crate) stmts: Vec<String>,
}

pub fn run(py: Python<'_>, a: BenchArgs) -> Result<i32, Error> {
    let unit = match &a.unit {
        None => None,
        Some(u) => Some(
            Unit::parse(u).ok_or_else(|| Error::Usage(format!("unknown unit `{u}`: use nsec, usec, msec or sec")))?,
        ),
    };
    let opts = bench::options(
        a.setup,
        a.stmts,
        a.number,
        a.repeat,
        a.time_budget,
        a.precision,
        a.gc,
        a.process,
    )?;
    bench::check(py, &opts)?;
    let [json_file, plot_file, html_file] =
        Output::reserve_each([a.json.as_deref(), a.plot.as_deref(), a.html.as_deref()], &[])?;
    let python: String = py
        .import("sys")
        .and_then(|s| s.getattr("executable")?.extract())
        .map_err(|e| Error::Internal(e.to_string()))?;

    let bar = ProgressBar::new((opts.budget * 1000.0) as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} sampling [{bar:30}] {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let samples = py.detach(|| {
        bench::run(&opts, bench::in_worker(&python), |p| {
            bar.set_position((p.elapsed * 1000.0) as u64);
            let prec: Vec<String> = p
                .precision
                .iter()
                .enumerate()
                .map(|(i, x)| format!("{} ±{:.1}%", label(i), x * 100.0))
                .collect();
            bar.set_message(format!(
                "{:.1}/{:.0} s  {} processes  {}",
                p.elapsed,
                opts.budget,
                p.processes,
                prec.join("  ")
            ));
        })
    });
    bar.finish_and_clear();
    let samples = samples?;
    let rep = build::bench(&samples, &opts, &bench::python_version(py), false);
    if !a.quiet {
        let text = Terminal {
            top: 0,
            unit,
            verbose: a.verbose,
            full: false,
        }
        .render(&rep);
        let _ = anstream::stdout().write_all(text.as_bytes());
    }
    if let Some(f) = json_file {
        f.write(&Json.render(&rep))?;
    }
    if let Some(f) = plot_file {
        f.write(&Svg.render(&rep))?;
    }
    if let Some(f) = html_file {
        f.write(&Html.render(&rep))?;
    }
    // As python ends on Ctrl-C, after the figures measured until then.
    Ok(if rep.stop == Stop::Interrupted { 130 } else { 0 })
}
