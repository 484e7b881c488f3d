//! `refscope size EXPR`: evaluate an expression (after a setup) and report its sizes.

use super::output::Output;
use crate::error::Error;
use crate::report::{Html, Json, Render, Terminal};
use crate::spawn::Signals;
use clap::Args;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    about = "Shallow, deep and retained size of a Python object, by type and largest parts",
    long_about = "Run SETUP, evaluate EXPR and report its shallow size (sys.getsizeof), deep size (every \
object reachable from it, each counted once) and retained size (what would be freed if it became \
unreachable), with a breakdown by type and its largest parts. Classes, modules, functions and shared \
singletons (None, small ints, immortal objects) are not counted unless --include-shared.",
    after_help = "Examples:\n  refscope size '[1, 2, [3, 4], {\"a\": 10, \"b\": [11, 12]}]'\n  refscope size -s 'import json' 'json.loads(open(\"data.json\").read())'\n  refscope size -s 'xs = list(range(10**6))' xs --json sizes.json\n  refscope size -s 'import json' --html size.html 'json.loads(open(\"data.json\").read())'"
)]
pub struct SizeArgs {
    /// Python code run first (repeatable; joined as lines)
    #[arg(short, long, value_name = "SETUP")]
    pub(crate) setup: Vec<String>,
    /// Count classes, modules, functions and shared singletons too
    #[arg(long)]
    pub(crate) include_shared: bool,
    /// How many types and largest parts to list
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,
    /// Also write the report as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page to FILE: bytes by type, the largest
    /// parts as a tree you can open
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Print no terminal report (use with --json or --html)
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// The expression whose value is measured
    #[arg(value_name = "EXPR")]
    pub(crate) expr: String,
}

use crate::error::python_text as describe;

pub fn run(py: Python<'_>, a: SizeArgs) -> Result<i32, Error> {
    let [json_file, html_file] = Output::reserve_each([a.json.as_deref(), a.html.as_deref()], &[])?;
    let builtins = py.import("builtins").map_err(|e| Error::Internal(e.to_string()))?;
    let ns = PyDict::new(py);
    let _ = ns.set_item("__name__", "__main__");
    let _ = ns.set_item("__builtins__", &builtins);
    let setup = a.setup.join("\n");
    let compile = |src: &str, mode: &str, what: &str| -> Result<Bound<'_, PyAny>, Error> {
        builtins
            .getattr("compile")
            .and_then(|c| c.call1((src, format!("<{what}>"), mode)))
            .map_err(|e| Error::CodeSyntax {
                what: what.into(),
                detail: describe(py, &e),
            })
    };
    let setup_code = compile(&setup, "exec", "setup")?;
    let expr_code = compile(&a.expr, "eval", "expression")?;
    builtins
        .getattr("exec")
        .and_then(|f| f.call1((setup_code, &ns)))
        .map_err(|e| {
            interrupted_or(py, e, |e| Error::Code {
                what: "setup".into(),
                detail: describe(py, &e),
            })
        })?;
    let value = builtins
        .getattr("eval")
        .and_then(|f| f.call1((expr_code, &ns)))
        .map_err(|e| {
            interrupted_or(py, e, |e| Error::Code {
                what: "expression".into(),
                detail: describe(py, &e),
            })
        })?;
    // Ctrl-C, SIGTERM and SIGHUP stop the walk (Python's own handler would wait for its end).
    let signals = Signals::stopping();
    let rep = crate::objects::measure(py, &value, &a.expr, a.include_shared, a.top, true, Signals::requested)
        .map_err(|e| interrupted_or(py, e, |e| Error::Internal(describe(py, &e))))?;
    drop(signals);
    drop(value);
    if !a.quiet {
        let _ = anstream::stdout().write_all(Terminal::top(a.top).render(&rep).as_bytes());
    }
    if let Some(f) = json_file {
        f.write(&Json.render(&rep))?;
    }
    if let Some(f) = html_file {
        f.write(&Html.render(&rep))?;
    }
    Ok(0)
}

/// Ctrl-C is an interruption, not an error of the user's code.
fn interrupted_or(py: Python<'_>, e: PyErr, other: impl FnOnce(PyErr) -> Error) -> Error {
    if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
        Error::Interrupted
    } else {
        other(e)
    }
}
