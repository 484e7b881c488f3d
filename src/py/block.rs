//! `refscope.trace()`: a block of the caller's own process measured as `refscope run` measures a
//! program (the same tracer and memory hooks), and its report as a Python object.

use crate::record::Ended;
use crate::report::build::{self, Run};
use crate::report::html;
use crate::report::{Html, Json, Program, Render, Report, Terminal};
use crate::worker::inline::{self, Plan, Session};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};

/// The report of a measured block or program: prints as `refscope run`'s terminal report,
/// renders as its HTML page in notebooks.
#[pyclass(module = "refscope", frozen)]
pub struct RunResult {
    pub report: Report,
    /// How the terminal text reads: hottest lines listed, every line of the source.
    pub top: usize,
    pub full: bool,
}

pub(super) fn loads<'py>(py: Python<'py>, json: String) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (json,))
}

#[pymethods]
impl RunResult {
    /// Every line of your code that ran: dicts with `file`, `line`, `hits`, `time_ns`, `self_ns`,
    /// `source` and the memory figures (`alloc_bytes`, `freed_bytes`, …), files in report order.
    #[getter]
    fn lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut rows = Vec::new();
        for f in &self.report.files {
            for l in &f.lines {
                let mut v = serde_json::to_value(l).expect("lines serialize");
                v["file"] = f.display.clone().into();
                rows.push(v);
            }
        }
        loads(py, serde_json::Value::Array(rows).to_string())
    }

    /// Functions of yours that ran: `name`, `qualname`, `file`, `line`, `calls`, `total_ns`, `self_ns`.
    #[getter]
    fn functions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, serde_json::to_string(&self.report.functions).expect("serializes"))
    }

    /// Allocations, peak, timeline, RSS split, GC runs and survivors; None without memory.
    #[getter]
    fn memory<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, serde_json::to_string(&self.report.memory).expect("serializes"))
    }

    #[getter]
    fn wall_ns(&self) -> u64 {
        self.report.wall_ns
    }

    /// The whole report as a dict (the `refscope run --json` schema).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, Json.render(&self.report))
    }

    fn to_json(&self) -> String {
        Json.render(&self.report)
    }

    /// `refscope run --html`'s page.
    fn to_html(&self) -> String {
        Html.render(&self.report)
    }

    fn _repr_html_(&self) -> String {
        html::embed(&Html.render(&self.report))
    }

    #[pyo3(signature = (include = None, exclude = None))]
    fn _repr_mimebundle_<'py>(
        &self,
        py: Python<'py>,
        include: Option<Bound<'py, PyAny>>,
        exclude: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (include, exclude);
        bundle(py, &self.__repr__(), &self._repr_html_(), &self.to_json(), "run")
    }

    fn __repr__(&self) -> String {
        let t = Terminal {
            full: self.full,
            ..Terminal::top(self.top)
        };
        anstream::adapter::strip_str(&t.render(&self.report)).to_string()
    }
}

/// A notebook's MIME bundle: the page, the terminal text, and the report under refscope's own
/// JSON type (see docs/notebooks.md for why not `application/json`).
pub fn bundle<'py>(py: Python<'py>, text: &str, page: &str, json: &str, schema: &str) -> PyResult<Bound<'py, PyAny>> {
    let d = pyo3::types::PyDict::new(py);
    d.set_item("text/plain", text)?;
    d.set_item("text/html", page)?;
    d.set_item(
        format!("application/vnd.refscope.{schema}+json"),
        loads(py, json.to_string())?,
    )?;
    Ok(d.into_any())
}

/// A block being measured: `with refscope.trace() as t: ...`, then `t.report`.
#[pyclass(module = "refscope", unsendable)]
pub struct Trace {
    plan: Option<Plan>,
    session: Option<Session>,
    /// `file:line` of the block, or a cell's name.
    target: String,
    held: Option<(String, String)>,
    result: Option<Py<RunResult>>,
}

#[pymethods]
impl Trace {
    fn __enter__(mut slf: PyRefMut<'_, Self>) -> PyResult<PyRefMut<'_, Self>> {
        let plan = slf
            .plan
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this trace has already run: call refscope.trace() again"))?;
        slf.session = Some(inline::start(slf.py(), plan)?);
        Ok(slf)
    }

    #[pyo3(signature = (exc_type, exc, traceback))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        exc: Option<Bound<'_, PyAny>>,
        traceback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_type, traceback);
        let Some(s) = self.session.take() else {
            return Ok(false);
        };
        let m = inline::stop(py, s);
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let mut report = build::run(
            &m.capture,
            &Run {
                program: Program {
                    kind: "block".into(),
                    target: self.target.clone(),
                    argv: Vec::new(),
                },
                ended: Ended::Exited(0),
                calibration: m.calibration,
                end_ticks: m.end_ticks,
                wall_ns: m.wall_ns,
                cwd: &cwd,
                held: self.held.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                timeline: &m.timeline,
                children: &[],
            },
        );
        report.outcome.description = match &exc {
            None => "the block ran to its end".into(),
            Some(e) => format!(
                "the block raised {}",
                crate::error::python_text(py, &PyErr::from_value(e.clone()))
            ),
        };
        report.outcome.exit_code = None;
        report.outcome.status = if exc.is_some() { "raised" } else { "finished" }.into();
        fill_sources(py, &mut report);
        self.result = Some(Py::new(
            py,
            RunResult {
                report,
                top: 10,
                full: false,
            },
        )?);
        Ok(false)
    }

    /// The block's report (once the block has ended).
    #[getter]
    fn report(&self, py: Python<'_>) -> PyResult<Py<RunResult>> {
        self.result
            .as_ref()
            .map(|r| r.clone_ref(py))
            .ok_or_else(|| PyRuntimeError::new_err("the block has not ended yet: read .report after the with block"))
    }
}

impl Trace {
    /// The report, once the block has ended.
    pub(super) fn finished(&self, py: Python<'_>) -> PyResult<Py<RunResult>> {
        self.report(py)
    }
}

/// Files with no text on disk (notebook cells, `<stdin>`) take it from linecache, where
/// IPython and the interpreter keep it.
fn fill_sources(py: Python<'_>, r: &mut Report) {
    let Ok(linecache) = py.import("linecache") else { return };
    for f in r.files.iter_mut().filter(|f| f.source.is_empty()) {
        let Ok(lines) = linecache
            .call_method1("getlines", (&f.path,))
            .and_then(|l| l.extract::<Vec<String>>())
        else {
            continue;
        };
        f.source = lines.iter().map(|l| l.trim_end().to_string()).collect();
        for l in &mut f.lines {
            l.source = f
                .source
                .get(l.line as usize - 1)
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
        }
    }
}

fn plan(roots: Vec<PathBuf>, exact: Vec<String>, include: Vec<String>, all: bool, memory: bool) -> Plan {
    Plan {
        roots,
        exact,
        include,
        all,
        memory,
        code: None,
        calls: false,
    }
}

/// Measures the block of a `with` statement in this process: the lines of your code (the
/// caller's file's directory, plus `include`, or every file with `all`) and, unless
/// `memory=False`, what they allocate.
#[pyfunction]
#[pyo3(signature = (*, include = Vec::new(), all = false, memory = true))]
pub fn trace(py: Python<'_>, include: Vec<String>, all: bool, memory: bool) -> PyResult<Trace> {
    let frame = py.import("sys")?.call_method1("_getframe", (0,))?;
    let file: String = frame.getattr("f_code")?.getattr("co_filename")?.extract()?;
    let line: u32 = frame.getattr("f_lineno")?.extract().unwrap_or(0);
    let (roots, exact) = if file.starts_with('<') {
        (Vec::new(), vec![file.clone()])
    } else {
        let abs = std::path::absolute(&file).unwrap_or_else(|_| PathBuf::from(&file));
        (abs.parent().map(Path::to_path_buf).into_iter().collect(), Vec::new())
    };
    Ok(Trace {
        plan: Some(plan(roots, exact, include, all, memory)),
        session: None,
        target: format!("{file}:{line}"),
        held: None,
        result: None,
    })
}

/// Measures running `code` (compiled under `name` from `source`, as a notebook cell is): that
/// code, what it defines, and your files under `roots`.
#[pyfunction]
#[pyo3(signature = (code, name, source, *, roots = Vec::new(), include = Vec::new(), all = false, memory = true))]
#[allow(clippy::too_many_arguments)]
pub fn _trace_code(
    code: Py<PyAny>,
    name: String,
    source: String,
    roots: Vec<PathBuf>,
    include: Vec<String>,
    all: bool,
    memory: bool,
) -> Trace {
    let mut p = plan(roots, vec![name.clone()], include, all, memory);
    p.code = Some(code);
    Trace {
        plan: Some(p),
        session: None,
        target: name.clone(),
        held: Some((name, source)),
        result: None,
    }
}

/// The profile of a block, a callable or a cell: prints as `refscope profile`'s call tree,
/// renders as its HTML page in notebooks.
#[pyclass(module = "refscope", frozen)]
pub struct ProfileResult {
    pub report: crate::report::profile::Profile,
    pub top: usize,
    /// What the callable returned (None for code).
    #[pyo3(get)]
    pub value: Py<PyAny>,
}

#[pymethods]
impl ProfileResult {
    /// Functions with calls, total and self time (the `--json` schema's `functions`).
    #[getter]
    fn functions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, serde_json::to_string(&self.report.functions).expect("serializes"))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, Json.render(&self.report))
    }

    fn to_json(&self) -> String {
        Json.render(&self.report)
    }

    /// `refscope profile --html`'s page.
    fn to_html(&self) -> String {
        html::profile::html(&self.report, &[])
    }

    /// Writes cProfile's stats file (for pstats, snakeviz), as `cProfile.Profile.dump_stats`.
    fn dump_stats(&self, path: PathBuf) -> PyResult<()> {
        std::fs::write(&path, crate::report::pstats::render(&self.report))
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", path.display())))
    }

    fn _repr_html_(&self) -> String {
        html::embed(&self.to_html())
    }

    #[pyo3(signature = (include = None, exclude = None))]
    fn _repr_mimebundle_<'py>(
        &self,
        py: Python<'py>,
        include: Option<Bound<'py, PyAny>>,
        exclude: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (include, exclude);
        bundle(py, &self.__repr__(), &self._repr_html_(), &self.to_json(), "profile")
    }

    fn __repr__(&self) -> String {
        anstream::adapter::strip_str(&Terminal::top(self.top).render(&self.report)).to_string()
    }
}

/// Profiles `target` in this process with refscope's profiler: a callable is called with `args`
/// and `kwargs` (its return value is `.value`); a string is run as code in the caller's globals.
/// Your code is the caller's file's directory, plus `include`, or everything with `all`.
#[pyfunction]
#[pyo3(signature = (target, /, *args, include = Vec::new(), all = false, memory = false, top = 20, **kwargs))]
#[allow(clippy::too_many_arguments)]
pub fn profile(
    py: Python<'_>,
    target: Bound<'_, PyAny>,
    args: Bound<'_, pyo3::types::PyTuple>,
    include: Vec<String>,
    all: bool,
    memory: bool,
    top: usize,
    kwargs: Option<Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<ProfileResult> {
    let frame = py.import("sys")?.call_method1("_getframe", (0,))?;
    let file: String = frame.getattr("f_code")?.getattr("co_filename")?.extract()?;
    let mut roots: Vec<PathBuf> = Vec::new();
    if !file.starts_with('<') {
        let abs = std::path::absolute(&file).unwrap_or_else(|_| PathBuf::from(&file));
        roots.extend(abs.parent().map(Path::to_path_buf));
    }
    let name = "<refscope.profile>".to_string();
    let (code, source) = match target.cast::<pyo3::types::PyString>() {
        Ok(s) => {
            let src = s.to_string();
            let code = py
                .import("builtins")?
                .getattr("compile")?
                .call1((&src, &name, "exec"))?;
            (Some(code), Some(src))
        }
        Err(_) => (None, None),
    };
    let mut exact = Vec::new();
    if code.is_some() {
        exact.push(name.clone());
    }
    let globals = frame.getattr("f_globals")?;
    let plan = Plan {
        roots,
        exact,
        include,
        all,
        memory,
        code: code.as_ref().map(|c| c.clone().unbind()),
        calls: true,
    };
    let (report, value) = profile_plan(py, plan, name, source, |py| match &code {
        Some(c) => py
            .import("builtins")?
            .call_method1("exec", (c, &globals))
            .map(|_| py.None()),
        None => target.call(args.clone(), kwargs.as_ref()).map(Bound::unbind),
    })?;
    match value {
        Ok(value) => Ok(ProfileResult { report, top, value }),
        Err(e) => Err(e),
    }
}

/// Runs `body` under the profiler: the profile, and what `body` returned or raised.
pub fn profile_plan(
    py: Python<'_>,
    plan: Plan,
    target: String,
    source: Option<String>,
    body: impl FnOnce(Python<'_>) -> PyResult<Py<PyAny>>,
) -> PyResult<(crate::report::profile::Profile, PyResult<Py<PyAny>>)> {
    let memory = plan.memory;
    let session = inline::start(py, plan)?;
    let value = body(py);
    let m = inline::stop(py, session);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut report = build::profile(
        &m.capture,
        &Run {
            program: Program {
                kind: "block".into(),
                target: target.clone(),
                argv: Vec::new(),
            },
            ended: Ended::Exited(0),
            calibration: m.calibration,
            end_ticks: m.end_ticks,
            wall_ns: m.wall_ns,
            cwd: &cwd,
            held: source.as_deref().map(|s| (target.as_str(), s)),
            timeline: &[],
            children: &[],
        },
        memory,
    );
    report.outcome.description = match &value {
        Ok(_) => "the block ran to its end".into(),
        Err(e) => format!("the block raised {}", crate::error::python_text(py, e)),
    };
    Ok((report, value))
}
