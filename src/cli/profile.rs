//! `refscope profile`: runs the program under the call profiler; prints the call tree and the
//! functions, and writes the formats asked for.

use super::output::Output;
use super::run::{exit_code, resolve, Given};
use crate::error::Error;
use crate::launcher;
use crate::record::job::Job;
use crate::report::build::{self, Run};
use crate::report::flame::{self, By};
use crate::report::profile::Profile;
use crate::report::{html, pstats, speedscope, Json, Program, Render, Report as RunReport, Terminal};
use clap::Args;
use pyo3::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(
    about = "Profile a Python program: every call of your code and of what it calls, as a call tree, flame graph, pstats or speedscope file",
    long_about = "Run a Python program exactly as `python` would and count every call of your code and of the \
functions it calls directly (C functions and builtins included: len, sorted, list.append), with \
total and self time, callers and callees, per thread. Deterministic: every call is counted, none \
sampled. Library code your code calls gets a node named for the function it called; what that \
calls folds into it until your code runs again (--all: every Python function gets its own). The \
report goes to stderr, so the program's stdout stays pipeable.",
    after_help = "Examples:\n  refscope profile script.py                    call tree and top functions\n  refscope profile -c 'sum(range(1_000_000))'\n  refscope profile --flamegraph fg.svg app.py   a flame graph (open it in a browser)\n  refscope profile --html profile.html app.py   flame graph, call tree and functions, one file\n  refscope profile --pstats out.prof app.py     for pstats, snakeviz, gprof2dot\n  refscope profile --speedscope p.json -m mypkg  for speedscope\n  refscope profile --memory --flamegraph-by alloc --flamegraph mem.svg app.py\n\nExit code: the program's own; 128+N when it was killed by signal N; 124 after --timeout;\n1 for bad input."
)]
pub struct ProfileArgs {
    /// Run library module MODULE as a script, as `python -m`
    #[arg(short = 'm', value_name = "MODULE", conflicts_with = "code")]
    pub(crate) module: Option<String>,
    /// Run CODE, as `python -c`
    #[arg(short = 'c', value_name = "CODE")]
    pub(crate) code: Option<String>,
    /// Write the profile as JSON to FILE (schema: docs/json-schema.md)
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Write cProfile's stats file to FILE (for pstats, `python -m pstats`, snakeviz)
    #[arg(long, value_name = "FILE")]
    pub(crate) pstats: Option<PathBuf>,
    /// Write a speedscope file to FILE (https://www.speedscope.app)
    #[arg(long, value_name = "FILE")]
    pub(crate) speedscope: Option<PathBuf>,
    /// Write folded stacks to FILE (`a;b;c count`, for flamegraph.pl and inferno)
    #[arg(long, value_name = "FILE")]
    pub(crate) folded: Option<PathBuf>,
    /// Write a flame graph (SVG) to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) flamegraph: Option<PathBuf>,
    /// Write one self-contained HTML page to FILE: flame graph, call tree, function table
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// With --html: per-line figures from a `refscope run --json` report of the same program,
    /// shown beside each function's source in the page
    #[arg(long, value_name = "RUN.json", requires = "html")]
    pub(crate) lines_from: Option<PathBuf>,
    /// Draw the flame graph root on top (an icicle graph)
    #[arg(long)]
    pub(crate) icicle: bool,
    /// What the flame graph's widths stand for
    #[arg(long, value_name = "WHAT", value_enum, default_value_t = By::Time)]
    pub(crate) flamegraph_by: By,
    /// Also charge allocations to each call (bytes allocated and objects created per node)
    #[arg(long)]
    pub(crate) memory: bool,
    /// Stop the program after SECONDS and report what was measured until then
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub(crate) timeout: Option<f64>,
    /// Also count files matching PATTERN as yours: a directory, a file or a glob (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub(crate) include: Vec<String>,
    /// Give every Python function its own node, standard library and installed packages included
    #[arg(long)]
    pub(crate) all: bool,
    /// How many functions to list
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub(crate) top: usize,
    /// Print no terminal report (use with the file options)
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// The script and its arguments
    #[arg(value_name = "SCRIPT [ARGS]", trailing_var_arg = true)]
    pub(crate) argv: Vec<String>,
}

pub fn run(py: Python<'_>, args: ProfileArgs, program_args: Vec<String>) -> Result<i32, Error> {
    let cwd = std::env::current_dir().map_err(|_| Error::NoCwd)?;
    if args.flamegraph_by == By::Alloc && !args.memory {
        return Err(Error::AllocNeedsMemory);
    }
    let lines_from = args.lines_from.as_deref().map(read_run_report).transpose()?;
    let (target, shown, argv) = resolve(
        py,
        Given {
            module: args.module.as_deref(),
            code: args.code.as_deref(),
            argv: &args.argv,
            timeout: args.timeout,
            include: &args.include,
        },
        program_args,
    )?;
    let script: Vec<&Path> = target.path().map(Path::new).into_iter().collect();
    let outputs = Output::reserve_each(
        [
            args.json.as_deref(),
            args.pstats.as_deref(),
            args.speedscope.as_deref(),
            args.folded.as_deref(),
            args.flamegraph.as_deref(),
            args.html.as_deref(),
        ],
        &script,
    )?;
    let python: String = py
        .import("sys")
        .and_then(|s| s.getattr("executable")?.extract())
        .map_err(|e| Error::Internal(format!("no sys.executable: {e}")))?;
    let kind = target.kind();
    let held = target.held_source();
    let fin = py.detach(|| {
        launcher::run(
            &python,
            Job {
                capture: String::new(),
                cwd: String::new(),
                target,
                args: argv.clone(),
                include: args.include.clone(),
                all: args.all,
                heap: None,
                memory: args.memory,
                explain: None,
                subprocesses: false,
                profile: true,
            },
            args.timeout,
        )
    })?;
    if let Some(refused) = fin.capture.refused() {
        return Err(refused);
    }
    let rep = build::profile(
        &fin.capture,
        &Run {
            program: Program {
                kind: kind.into(),
                target: shown,
                argv,
            },
            ended: fin.ended,
            calibration: fin.calibration,
            end_ticks: fin.end_ticks,
            wall_ns: fin.wall_ns,
            cwd: &cwd,
            held: held.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            timeline: &[],
            children: &[],
        },
        args.memory,
    );
    if !args.quiet {
        let text = Terminal::top(args.top).render(&rep);
        let mut err = anstream::stderr();
        let _ = writeln!(err);
        let _ = err.write_all(text.as_bytes());
    }
    let [json, pstats_file, speedscope_file, folded, svg, html] = outputs;
    if let Some(f) = json {
        f.write(&Json.render(&rep))?;
    }
    if let Some(f) = pstats_file {
        f.write_bytes(&pstats::render(&rep))?;
    }
    if let Some(f) = speedscope_file {
        f.write(&speedscope::render(&rep))?;
    }
    if let Some(f) = folded {
        f.write(&flame::folded(&rep, args.flamegraph_by))?;
    }
    if let Some(f) = svg {
        f.write(&flame::svg(&rep, args.flamegraph_by, args.icicle))?;
    }
    if let Some(f) = html {
        f.write(&html::profile::html(&rep, &sources(&rep, lines_from.as_ref(), &cwd)))?;
    }
    Ok(exit_code(fin.ended))
}

/// A `refscope run --json` report, read before the program runs (a bad one fails first).
fn read_run_report(path: &Path) -> Result<RunReport, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Unreadable(path.into(), e.to_string()))?;
    let not = |why: String| Error::NotRunReport(path.into(), why);
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| not(format!("not JSON ({e})")))?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(crate::report::run::SCHEMA) => {}
        Some(other) => return Err(not(format!("its schema is `{other}`"))),
        None => return Err(not("it has no `schema` field".into())),
    }
    serde_json::from_value(value).map_err(|e| not(e.to_string()))
}

/// Files the page shows beside their functions: at most this many, each at most this big.
const PAGE_FILES: usize = 200;
const PAGE_FILE_BYTES: u64 = 1 << 20;

/// The text of each of your files with a function in the profile, and the run report's lines
/// for it (matched on the file's real path).
fn sources(rep: &Profile, run_report: Option<&RunReport>, cwd: &Path) -> Vec<html::profile::Source> {
    let real = |p: &str| std::fs::canonicalize(cwd.join(p)).ok();
    let mut out: Vec<html::profile::Source> = Vec::new();
    for f in rep.functions.iter().filter(|f| f.yours && f.kind == "python") {
        if out.len() >= PAGE_FILES || out.iter().any(|s| s.file == f.file) {
            continue;
        }
        let path = real(&f.pstats_key.0);
        let text = path
            .as_ref()
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() <= PAGE_FILE_BYTES))
            .and_then(|p| crate::report::source::read(&p.display().to_string()));
        let Some(text) = text else { continue };
        let lines = run_report
            .and_then(|r| {
                r.files
                    .iter()
                    .find(|rf| real(&rf.path).is_some_and(|p| Some(p) == path))
            })
            .map(|rf| rf.lines.iter().map(Into::into).collect())
            .unwrap_or_default();
        out.push(html::profile::Source {
            file: f.file.clone(),
            text: text.lines().map(str::to_string).collect(),
            lines,
        });
    }
    out
}
