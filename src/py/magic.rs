//! The notebook magics behind `%load_ext refscope`: `%%refscope run|profile|explain|bench` and
//! `%refscope size|bench`, taking the command line's own flags (parsed by the same clap
//! definitions). run, profile, size and bench work in the kernel's own namespace, in this
//! process; explain follows every object from a clean start, so it runs the cell in a fresh
//! worker, as `refscope explain -c` does.

use super::block::{_trace_code, profile_plan, ProfileResult, RunResult};
use super::story::{explain_code, ExplainResult};
use super::{BenchResult, SizeResult};
use crate::bench as engine;
use crate::cli::output::Output;
use crate::cli::{Cli, Command};
use crate::record::explain::Plan as ExplainPlan;
use crate::report::terminal::Unit;
use crate::report::{build, html, Html, Json, Render, Svg};
use crate::worker::inline::Plan;
use clap::Parser;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::{Path, PathBuf};

fn usage(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

fn no_program(module: &Option<String>, code: &Option<String>, argv: &[String]) -> PyResult<()> {
    if module.is_some() || code.is_some() || !argv.is_empty() {
        return Err(usage("the cell is the program: give no script, -m or -c"));
    }
    Ok(())
}

fn no_timeout(timeout: Option<f64>) -> PyResult<()> {
    match timeout {
        Some(_) => Err(usage(
            "--timeout is not for a notebook cell: interrupt the kernel instead",
        )),
        None => Ok(()),
    }
}

fn cell_of(cell: &Option<String>, command: &str) -> PyResult<String> {
    cell.clone().ok_or_else(|| {
        usage(format!(
            "`%refscope {command}` measures a cell: write `%%refscope {command}` on its first line"
        ))
    })
}

/// Writes each report file asked for; none names an input (the cell has no file).
/// A report file asked for, and how to make its bytes.
type Asked<'a> = (Option<&'a Path>, &'a dyn Fn() -> Vec<u8>);

fn write_all(files: &[Asked<'_>]) -> PyResult<()> {
    let asked: Vec<Option<&Path>> = files.iter().map(|f| f.0).collect();
    for (i, (path, make)) in files.iter().enumerate() {
        let Some(path) = path else { continue };
        let before: Vec<&Path> = asked[..i].iter().flatten().copied().collect();
        Output::reserve(path, &[], &before)?.write_bytes(&make())?;
    }
    Ok(())
}

/// The options of `command` that take a value (`-s SETUP`, `--top N`): a line magic's options
/// come first, and what follows them is its expression or statement, spaces and all.
#[pyfunction]
pub fn _magic_value_options(command: &str) -> Vec<String> {
    use clap::CommandFactory;
    let cli = Cli::command();
    let Some(sub) = cli.find_subcommand(command) else {
        return Vec::new();
    };
    sub.get_arguments()
        .filter(|a| !a.is_positional() && a.get_action().takes_values())
        .flat_map(|a| {
            let short = a.get_short().map(|c| format!("-{c}"));
            let long = a.get_long().map(|l| format!("--{l}"));
            short.into_iter().chain(long)
        })
        .collect()
}

/// Runs one magic: (what to display, the exception the cell raised, if it did). Bad flags raise
/// ValueError with clap's message (IPython shows it as a usage error).
#[pyfunction]
#[pyo3(signature = (argv, cell, ns, name, code = None, roots = Vec::new()))]
pub fn _magic(
    py: Python<'_>,
    argv: Vec<String>,
    cell: Option<String>,
    ns: Bound<'_, PyDict>,
    name: String,
    code: Option<Py<PyAny>>,
    roots: Vec<PathBuf>,
) -> PyResult<(Py<PyAny>, Option<Py<PyAny>>)> {
    let mut full = vec!["refscope".to_string()];
    full.extend(argv);
    let cli = Cli::try_parse_from(full).map_err(|e| usage(e.render().to_string()))?;
    let exec = |py: Python<'_>| -> PyResult<Py<PyAny>> {
        let c = code.as_ref().ok_or_else(|| usage("no code to run"))?;
        py.import("builtins")?.call_method1("exec", (c, &ns)).map(Bound::unbind)
    };
    let raised = |r: PyResult<Py<PyAny>>, py: Python<'_>| r.err().map(|e| e.into_value(py).into_any());
    match cli.command {
        Command::Run(a) => {
            let source = cell_of(&cell, "run")?;
            no_program(&a.module, &a.code, &a.argv)?;
            no_timeout(a.timeout)?;
            let code_obj = code
                .as_ref()
                .map(|c| c.clone_ref(py))
                .ok_or_else(|| usage("no code to run"))?;
            let t = Bound::new(
                py,
                _trace_code(code_obj, name, source, roots, a.include.clone(), a.all, !a.no_memory),
            )?;
            t.call_method0("__enter__")?;
            let result = exec(py);
            let err = raised(result, py);
            match &err {
                Some(e) => t.call_method1("__exit__", (e.bind(py).get_type(), e, py.None()))?,
                None => t.call_method1("__exit__", (py.None(), py.None(), py.None()))?,
            };
            let report = t.borrow().finished(py)?.get().report.clone();
            write_all(&[
                (a.json.as_deref(), &|| Json.render(&report).into_bytes()),
                (a.html.as_deref(), &|| Html.render(&report).into_bytes()),
            ])?;
            let r = RunResult {
                report,
                top: a.top,
                full: a.full,
            };
            Ok((Py::new(py, r)?.into_any(), err))
        }
        Command::Profile(a) => {
            let source = cell_of(&cell, "profile")?;
            no_program(&a.module, &a.code, &a.argv)?;
            no_timeout(a.timeout)?;
            if a.lines_from.is_some() || a.speedscope.is_some() || a.folded.is_some() {
                return Err(usage(
                    "in a notebook, profile writes --json, --html, --pstats and --flamegraph",
                ));
            }
            let plan = Plan {
                roots,
                exact: vec![name.clone()],
                include: a.include.clone(),
                all: a.all,
                memory: a.memory,
                code: code.as_ref().map(|c| c.clone_ref(py)),
                calls: true,
            };
            let (report, result) = profile_plan(py, plan, name, Some(source), exec)?;
            write_all(&[
                (a.json.as_deref(), &|| Json.render(&report).into_bytes()),
                (a.html.as_deref(), &|| html::profile::html(&report, &[]).into_bytes()),
                (a.pstats.as_deref(), &|| crate::report::pstats::render(&report)),
                (a.flamegraph.as_deref(), &|| {
                    crate::report::flame::svg(&report, a.flamegraph_by, a.icicle).into_bytes()
                }),
            ])?;
            let err = raised(result, py);
            let r = ProfileResult {
                report,
                top: a.top,
                value: py.None(),
            };
            Ok((Py::new(py, r)?.into_any(), err))
        }
        Command::Explain(a) => {
            let source = cell_of(&cell, "explain")?;
            no_program(&None, &a.code, &a.argv)?;
            let plan = ExplainPlan {
                max_steps: a.max_steps,
                max_objects: a.max_objects,
                depth: a.depth,
            };
            if !(a.timeout > 0.0 && a.timeout <= crate::cli::run::MAX_TIMEOUT) {
                return Err(crate::error::Error::BadTimeout(a.timeout).into());
            }
            let report = explain_code(py, source, plan, a.timeout)?;
            write_all(&[
                (a.json.as_deref(), &|| report.to_json().into_bytes()),
                (a.html.as_deref(), &|| Html.render(&report).into_bytes()),
            ])?;
            Ok((Py::new(py, ExplainResult { report })?.into_any(), None))
        }
        Command::Size(a) => {
            if cell.is_some() {
                return Err(usage("`%%refscope size` takes no cell: write `%refscope size EXPR`"));
            }
            let builtins = py.import("builtins")?;
            let setup = a.setup.join("\n");
            if !setup.is_empty() {
                builtins.call_method1("exec", (&setup, &ns))?;
            }
            let value = builtins.call_method1("eval", (&a.expr, &ns))?;
            let report = crate::objects::measure(
                py,
                &value,
                &a.expr,
                a.include_shared,
                a.top,
                true,
                crate::objects::never,
            )?;
            write_all(&[
                (a.json.as_deref(), &|| Json.render(&report).into_bytes()),
                (a.html.as_deref(), &|| Html.render(&report).into_bytes()),
            ])?;
            Ok((Py::new(py, SizeResult { report, top: a.top })?.into_any(), None))
        }
        Command::Bench(a) => {
            let stmts: Vec<String> = match &cell {
                Some(c) => c.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect(),
                None => a.stmts.clone(),
            };
            if cell.is_some() && !a.stmts.is_empty() {
                return Err(usage(
                    "the cell's lines are the statements: give none on the magic's line",
                ));
            }
            let stmts = if stmts.is_empty() {
                vec!["pass".to_string()]
            } else {
                stmts
            };
            let unit = match &a.unit {
                None => None,
                Some(u) => Some(
                    Unit::parse(u).ok_or_else(|| usage(format!("unknown unit `{u}`: use nsec, usec, msec or sec")))?,
                ),
            };
            let setup = a.setup.join("\n");
            let setup = if setup.is_empty() { "pass".to_string() } else { setup };
            // Each statement becomes a function over the kernel's namespace, as %timeit runs it.
            let types = py.import("types")?;
            let builtins = py.import("builtins")?;
            let function = |src: &str, what: &str| -> PyResult<Bound<'_, PyAny>> {
                let c = builtins.getattr("compile")?.call1((src, format!("<{what}>"), "exec"))?;
                types.getattr("FunctionType")?.call1((c, &ns))
            };
            let timers: Vec<Bound<'_, PyAny>> = stmts
                .iter()
                .enumerate()
                .map(|(i, s)| function(s, &format!("bench {}", crate::record::bench::label(i))))
                .collect::<PyResult<_>>()?;
            let setup_fn = function(&setup, "setup")?;
            let opts = engine::options(
                vec![setup.clone()],
                stmts.clone(),
                a.number,
                a.repeat,
                a.time_budget,
                a.precision,
                a.gc,
                a.process,
            )?;
            let t = engine::worker::timers(py, &timers, &setup_fn, a.gc, a.process)?;
            let samples = engine::run(&opts, engine::in_this_process(py, &t), |_| {})?;
            let report = build::bench(&samples, &opts, &engine::python_version(py), true);
            write_all(&[
                (a.json.as_deref(), &|| Json.render(&report).into_bytes()),
                (a.plot.as_deref(), &|| Svg.render(&report).into_bytes()),
                (a.html.as_deref(), &|| Html.render(&report).into_bytes()),
            ])?;
            Ok((Py::new(py, BenchResult { report, unit })?.into_any(), None))
        }
        Command::Heap(_) => Err(usage(
            "heap is not a notebook magic: `%refscope size EXPR` measures one object, `refscope heap` a program",
        )),
        Command::Serve(_) => Err(usage(
            "serve is not a notebook magic: run `refscope serve` in a terminal for the playground page",
        )),
    }
}
