//! `refscope run`: checks the target, runs it in a worker, prints and saves the report.

use super::output::Output;
use crate::error::Error;
use crate::launcher;
use crate::record::heap::HeapReport;
use crate::record::job::{HeapPlan, Job, Target};
use crate::record::{Ended, Record};
use crate::report::build::{self, Run};
use crate::report::{Html, Json, Program, Render, Terminal};
use clap::Args;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(
    about = "Run a Python program and report time, hits and memory for every line of your code",
    long_about = "Run a Python program exactly as `python` would (same argv, stdin, stdout, exit code) \
and report, for every line of your code: how often it ran and how long it took, callees included, \
and what it allocated and freed; plus the peak heap, heap and RSS over time, why RSS did not come \
down, every GC run and what is still allocated at exit (--no-memory leaves memory out). \
Your code is the files under the script's directory (the current directory for -m and -c), \
not the standard library or installed packages. Python processes the program starts \
(multiprocessing, subprocess) are measured too and added in (--no-subprocesses: the main one only). \
The report goes to stderr, so the program's stdout stays pipeable.",
    after_help = "Examples:\n  refscope run script.py --its-own-flag       refscope's options go before the script\n  refscope run -m pytest -x tests/            a module, as `python -m`\n  refscope run -c 'import json; json.dumps(list(range(10**5)))'\n  refscope run --include 'lib/**' --json report.json app.py\n  refscope run --timeout 30 server.py         stop after 30 s and report what was measured\n\nExit code: the program's own; 128+N when it was killed by signal N; 124 after --timeout;\n1 for bad input."
)]
pub struct RunArgs {
    /// Run library module MODULE as a script, as `python -m`
    #[arg(short = 'm', value_name = "MODULE", conflicts_with = "code")]
    pub(crate) module: Option<String>,
    /// Run CODE, as `python -c`
    #[arg(short = 'c', value_name = "CODE")]
    pub(crate) code: Option<String>,
    /// Also write the report as JSON to FILE (schema: docs/json-schema.md)
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page to FILE: every line with its heat,
    /// the memory timeline, functions (heap: the census by type and the top retainers)
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Stop the program after SECONDS and report what was measured until then
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub(crate) timeout: Option<f64>,
    /// Also trace files matching PATTERN: a directory, a file or a glob (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub(crate) include: Vec<String>,
    /// Trace every Python file, standard library and installed packages included
    #[arg(long)]
    pub(crate) all: bool,
    /// How many of the hottest lines to list
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,
    /// Leave memory out: no allocator hooks, GC runs or survivors (time and hits only)
    #[arg(long)]
    pub(crate) no_memory: bool,
    /// Measure only the main process, not the Python processes the program starts
    #[arg(long)]
    pub(crate) no_subprocesses: bool,
    /// Print every line that ran in the annotated source (by default a big report shows the lines
    /// with at least 1% of the time or memory, and a line around each)
    #[arg(long)]
    pub(crate) full: bool,
    /// Print no terminal report (use with --json)
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// The script and its arguments
    #[arg(value_name = "SCRIPT [ARGS]", trailing_var_arg = true)]
    pub(crate) argv: Vec<String>,
}

/// The longest `--timeout` (about 31 years): longer ones cannot be waited for.
pub(crate) const MAX_TIMEOUT: f64 = 1e9;

/// Splits `refscope run [OPTIONS] TARGET ARGS…` so that everything after the script, `-m MODULE`
/// or `-c CODE` belongs to the program, as with `python`.
/// `cli` tells which options take a value.
pub fn split_program_args(cli: &clap::Command, argv: Vec<String>) -> (Vec<String>, Vec<String>) {
    let sub = match argv.get(1).map(String::as_str) {
        Some(name @ ("run" | "heap" | "explain" | "profile")) => cli.find_subcommand(name),
        _ => None,
    };
    let Some(sub) = sub else {
        return (argv, vec![]);
    };
    let value_flag = |a: &str| {
        a.strip_prefix("--").is_some_and(|long| {
            sub.get_arguments()
                .any(|o| o.get_long() == Some(long) && o.get_action().takes_values())
        })
    };
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" {
            i += 1;
            break;
        } else if value_flag(a) {
            i += 2;
        } else if a == "-m" || a == "-c" {
            i += 2;
            break;
        } else if (a.starts_with("-m") || a.starts_with("-c")) && !a.starts_with("--") {
            i += 1;
            break;
        } else if a.starts_with('-') && a.len() > 1 {
            i += 1;
        } else {
            i += 1;
            break;
        }
    }
    let i = i.min(argv.len());
    let mut ours = argv[..i].to_vec();
    let theirs = argv[i..].to_vec();
    if ours.last().map(String::as_str) == Some("--") {
        ours.pop();
    }
    // The script, if any, is the last of ours and not a flag's value: hand it to clap after `--`.
    let script_last = ours.len() > 2 && {
        let last = ours[ours.len() - 1].as_str();
        let before = ours[ours.len() - 2].as_str();
        !last.starts_with('-') && !value_flag(before) && before != "-m" && before != "-c"
    };
    if script_last {
        let s = ours.pop().unwrap();
        ours.push("--".into());
        ours.push(s);
    }
    (ours, theirs)
}

/// What python would run for `python PATH`, checked: a source file, or a directory or zip
/// file with a `__main__.py`.
pub(super) fn script_target(py: Python<'_>, path: &str) -> Result<Target, Error> {
    let p = Path::new(path);
    let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NoSuchFile(p.into()),
        _ => Error::Unreadable(p.into(), e.to_string()),
    })?;
    let main_path = || Target::MainPath { path: path.into() };
    if meta.is_dir() {
        let main = p.join("__main__.py");
        if !main.is_file() {
            return Err(Error::IsDirectory(p.into()));
        }
        check_script(
            py,
            &main.display().to_string(),
            &std::fs::read(&main).unwrap_or_default(),
        )?;
        return Ok(main_path());
    }
    let bytes = std::fs::read(p).map_err(|e| Error::Unreadable(p.into(), e.to_string()))?;
    if is_zipapp(py, p) {
        return Ok(main_path());
    }
    check_script(py, path, &bytes)?;
    // Read once already: a FIFO or `/dev/fd/N` gives nothing the second time.
    let source = (!meta.is_file()).then(|| String::from_utf8_lossy(&bytes).into_owned());
    Ok(Target::Script {
        path: path.into(),
        source,
    })
}

/// A zip file with a `__main__.py` at its top (zipapp's `.pyz`, shebang line allowed).
fn is_zipapp(py: Python<'_>, p: &Path) -> bool {
    let check = || -> PyResult<bool> {
        let zipfile = py.import("zipfile")?;
        if !zipfile.call_method1("is_zipfile", (p,))?.extract::<bool>()? {
            return Ok(false);
        }
        let z = zipfile.getattr("ZipFile")?.call1((p,))?;
        let names = z.call_method0("namelist")?;
        z.call_method0("close")?;
        names.contains("__main__.py")
    };
    check().unwrap_or(false)
}

/// A source file's bytes are text that compiles.
fn check_script(py: Python<'_>, path: &str, bytes: &[u8]) -> Result<(), Error> {
    let p = Path::new(path);
    if bytes.contains(&0) {
        return Err(Error::Binary(p.into()));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        let head: String = String::from_utf8_lossy(bytes)
            .lines()
            .take(2)
            .collect::<Vec<_>>()
            .join("\n");
        if !head.contains("coding:") && !head.contains("coding=") {
            return Err(Error::NotUtf8(p.into(), e.valid_up_to()));
        }
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.into());
    check_syntax(py, PyBytes::new(py, bytes).into_any(), &abs.display().to_string(), path)
}

pub(crate) fn check_syntax(py: Python<'_>, source: Bound<'_, PyAny>, filename: &str, shown: &str) -> Result<(), Error> {
    let kw = PyDict::new(py);
    let compiled = kw.set_item("dont_inherit", true).and_then(|_| {
        py.import("builtins")?
            .getattr("compile")?
            .call((source, filename, "exec"), Some(&kw))
    });
    match compiled {
        Ok(_) => Ok(()),
        Err(e) => {
            let detail = crate::error::python_text(py, &e);
            Err(Error::Syntax {
                path: shown.to_string(),
                detail,
            })
        }
    }
}

#[derive(Args, Debug)]
#[command(
    about = "Run a Python program and take a census of its live objects at a line or at exit",
    long_about = "Run a program as `refscope run` does and, just before FILE:LINE first runs (or at exit), count \
every live object by type with its size, and measure the globals of your modules by the memory each \
alone keeps alive (its retained size), largest first.",
    after_help = "Examples:\n  refscope heap app.py                     census at exit\n  refscope heap --at app.py:42 app.py      just before line 42 first runs\n  refscope heap --json heap.json -m mypkg.cli serve"
)]
pub struct HeapArgs {
    /// Take the census just before FILE:LINE first runs (default: at exit)
    #[arg(long, value_name = "FILE:LINE")]
    pub(crate) at: Option<String>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

pub fn heap(py: Python<'_>, args: HeapArgs, program_args: Vec<String>) -> Result<i32, Error> {
    let at = match &args.at {
        None => None,
        Some(spec) => {
            let bad = || Error::Usage(format!("--at takes FILE:LINE, e.g. app.py:42, not `{spec}`"));
            let (file, line) = spec.rsplit_once(':').ok_or_else(bad)?;
            let line: u32 = line.parse().map_err(|_| bad())?;
            if !Path::new(file).is_file() {
                return Err(Error::NoSuchFile(file.into()));
            }
            let abs = std::path::absolute(file).map_err(|e| Error::Unreadable(file.into(), e.to_string()))?;
            Some((abs.display().to_string(), line))
        }
    };
    let top = args.run.top;
    run_with(py, args.run, program_args, Some(HeapPlan { at, top }))
}

pub fn run(py: Python<'_>, args: RunArgs, program_args: Vec<String>) -> Result<i32, Error> {
    run_with(py, args, program_args, None)
}

fn run_with(py: Python<'_>, args: RunArgs, program_args: Vec<String>, heap: Option<HeapPlan>) -> Result<i32, Error> {
    let cwd = std::env::current_dir().map_err(|_| Error::NoCwd)?;
    let (target, program, argv) = target(py, &args, program_args)?;
    // Checked before the run, so a bad path costs nothing.
    let script: Vec<&Path> = target.path().map(Path::new).into_iter().collect();
    let [json_file, html_file] = Output::reserve_each([args.json.as_deref(), args.html.as_deref()], &script)?;
    let python: String = py
        .import("sys")
        .and_then(|s| s.getattr("executable")?.extract())
        .map_err(|e| Error::Internal(format!("no sys.executable: {e}")))?;
    let held = target.held_source();
    let kind = target.kind();
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
                heap: heap.clone(),
                memory: heap.is_none() && !args.no_memory,
                explain: None,
                subprocesses: heap.is_none() && !args.no_subprocesses,
                profile: false,
            },
            args.timeout,
        )
    })?;
    if let Some(refused) = fin.capture.refused() {
        return Err(refused);
    }

    let rep = build::run(
        &fin.capture,
        &Run {
            program: Program {
                kind: kind.into(),
                target: program,
                argv,
            },
            ended: fin.ended,
            calibration: fin.calibration,
            end_ticks: fin.end_ticks,
            wall_ns: fin.wall_ns,
            cwd: &cwd,
            held: held.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            timeline: &fin.timeline,
            children: &fin.children,
        },
    );
    if let Some(plan) = &heap {
        let census = fin.capture.records.iter().find_map(|r| match r {
            Record::Heap { census } => Some(census),
            _ => None,
        });
        return heap_report(
            census,
            plan,
            &rep.outcome.description,
            &args,
            [json_file, html_file],
            fin.ended,
        );
    }
    if !args.quiet {
        let text = Terminal {
            full: args.full,
            ..Terminal::top(args.top)
        }
        .render(&rep);
        let mut err = anstream::stderr();
        let _ = writeln!(err);
        let _ = err.write_all(text.as_bytes());
    }
    if let Some(f) = json_file {
        f.write(&Json.render(&rep))?;
    }
    if let Some(f) = html_file {
        f.write(&Html.render(&rep))?;
    }
    Ok(exit_code(fin.ended))
}

/// The exit code python would have given: its own, 128 + the signal, or 124 for a timeout.
pub(super) fn exit_code(ended: Ended) -> i32 {
    match ended {
        Ended::Exited(c) => c,
        Ended::Signalled(s) => 128 + s,
        Ended::TimedOut(_) => 124,
    }
}

/// `refscope heap`: the census, or why there is none.
fn heap_report(
    census: Option<&HeapReport>,
    plan: &HeapPlan,
    how: &str,
    args: &RunArgs,
    [json_file, html_file]: [Option<Output>; 2],
    ended: Ended,
) -> Result<i32, Error> {
    let Some(h) = census else {
        let at = plan
            .at
            .as_ref()
            .map(|(f, l)| format!("{f}:{l}"))
            .unwrap_or_else(|| "exit".into());
        let e = Error::NeverReached {
            at,
            how: how.to_string(),
        };
        // A program that crashed or was stopped keeps its own exit code, as under python.
        if ended != Ended::Exited(0) {
            super::report_error(&e, Some("heap"));
            return Ok(exit_code(ended));
        }
        return Err(e);
    };
    // As with `run`, the report goes to stderr: the program's stdout stays its own.
    if !args.quiet {
        let _ = anstream::stderr().write_all(Terminal::top(args.top).render(h).as_bytes());
    }
    if let Some(f) = json_file {
        f.write(&Json.render(h))?;
    }
    if let Some(f) = html_file {
        f.write(&Html.render(h))?;
    }
    Ok(exit_code(ended))
}

/// Checks the options and the program, and says what to run: (target, as shown, its arguments).
fn target(py: Python<'_>, args: &RunArgs, program_args: Vec<String>) -> Result<(Target, String, Vec<String>), Error> {
    resolve(
        py,
        Given {
            module: args.module.as_deref(),
            code: args.code.as_deref(),
            argv: &args.argv,
            timeout: args.timeout,
            include: &args.include,
        },
        program_args,
    )
}

/// What the command line says to run, as any command that runs a program takes it.
pub(super) struct Given<'a> {
    pub module: Option<&'a str>,
    pub code: Option<&'a str>,
    pub argv: &'a [String],
    pub timeout: Option<f64>,
    pub include: &'a [String],
}

/// Checks `Given` and the program: (target, as shown, its arguments).
pub(super) fn resolve(
    py: Python<'_>,
    args: Given,
    program_args: Vec<String>,
) -> Result<(Target, String, Vec<String>), Error> {
    if let Some(t) = args.timeout {
        if !(t > 0.0 && t <= MAX_TIMEOUT) {
            return Err(Error::BadTimeout(t));
        }
    }
    for p in args.include {
        if let Err(e) = globset::Glob::new(p) {
            return Err(Error::BadPattern(p.clone(), e.kind().to_string()));
        }
    }
    let mut rest = args.argv.to_vec();
    rest.extend(program_args);
    Ok(if let Some(m) = args.module {
        (Target::Module { name: m.to_string() }, format!("-m {m}"), rest)
    } else if let Some(c) = args.code {
        check_syntax(py, pyo3::types::PyString::new(py, c).into_any(), "<string>", "<string>")?;
        (Target::Code { code: c.to_string() }, "-c".to_string(), rest)
    } else if let Some((script, more)) = rest.split_first() {
        (script_target(py, script)?, script.clone(), more.to_vec())
    } else {
        return Err(Error::Usage(
            "nothing to run: give a script, `-m MODULE` or `-c CODE`".into(),
        ));
    })
}
