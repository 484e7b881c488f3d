//! What Python code calls: thin wrappers over the engine; no logic of their own beyond choosing
//! worker processes (strings) or this process (callables) for `bench`.

mod block;
mod magic;
mod story;

pub use block::{_trace_code, profile, trace, ProfileResult, RunResult, Trace};
pub use magic::{_magic, _magic_value_options};
pub use story::{explain, ExplainResult};

use crate::bench as engine;
use crate::error::Error;
use crate::record::bench::Stop;
use crate::report::bench::BenchReport;
use crate::report::{build, Html, Json, Render, Svg, Terminal};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The result of `refscope.bench`: prints as the terminal table, renders as HTML in notebooks.
#[pyclass(module = "refscope", frozen)]
pub struct BenchResult {
    report: BenchReport,
    /// The terminal table's unit (None: chosen from the first median).
    unit: Option<crate::report::terminal::Unit>,
}

#[pymethods]
impl BenchResult {
    /// Median seconds per loop of the first statement.
    #[getter]
    fn median(&self) -> f64 {
        self.report.statements[0].median
    }

    /// (low, high) 95% confidence interval of the first statement's median, in seconds.
    #[getter]
    fn ci(&self) -> (f64, f64) {
        let s = &self.report.statements[0];
        (s.ci_low, s.ci_high)
    }

    /// One sentence per statement after the first: how it compares with the first.
    #[getter]
    fn verdicts(&self) -> Vec<String> {
        self.report.comparisons.iter().map(|c| c.text.clone()).collect()
    }

    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.report.warnings.iter().map(|w| w.message.clone()).collect()
    }

    /// The whole report, every sample included, as a dict (the `--json` schema).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (Json.render(&self.report),))
    }

    fn to_json(&self) -> String {
        Json.render(&self.report)
    }

    /// The samples drawn as a self-contained SVG.
    fn plot_svg(&self) -> String {
        Svg.render(&self.report)
    }

    fn __repr__(&self) -> String {
        let t = Terminal {
            unit: self.unit,
            ..Terminal::top(0)
        };
        anstream::adapter::strip_str(&t.render(&self.report)).to_string()
    }

    /// `refscope bench --html`'s page.
    fn to_html(&self) -> String {
        Html.render(&self.report)
    }

    fn _repr_html_(&self) -> String {
        crate::report::html::embed(&self.to_html())
    }

    #[pyo3(signature = (include = None, exclude = None))]
    fn _repr_mimebundle_<'py>(
        &self,
        py: Python<'py>,
        include: Option<Bound<'py, PyAny>>,
        exclude: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (include, exclude);
        block::bundle(py, &self.__repr__(), &self._repr_html_(), &self.to_json(), "bench")
    }
}

fn text(o: &Bound<'_, PyAny>) -> Option<String> {
    o.cast::<PyString>().ok().map(|s| s.to_string())
}

/// Times statements as `refscope bench` does. Strings run in fresh worker processes; callables
/// (which cannot move to another process) are timed in this process, in rounds.
#[pyfunction]
#[pyo3(signature = (*stmts, setup = None, number = None, repeat = None, time_budget = 3.0, precision = 0.5, gc = false, process_time = false))]
#[allow(clippy::too_many_arguments)]
pub fn bench(
    py: Python<'_>,
    stmts: Vec<Bound<'_, PyAny>>,
    setup: Option<Bound<'_, PyAny>>,
    number: Option<u64>,
    repeat: Option<u32>,
    time_budget: f64,
    precision: f64,
    gc: bool,
    process_time: bool,
) -> PyResult<BenchResult> {
    let setup = setup.unwrap_or_else(|| PyString::new(py, "pass").into_any());
    let stmts = if stmts.is_empty() {
        vec![PyString::new(py, "pass").into_any()]
    } else {
        stmts
    };
    let names: Vec<Option<String>> = stmts.iter().map(text).collect();
    let shown: Vec<String> = stmts
        .iter()
        .zip(&names)
        .map(|(s, n)| {
            n.clone()
                .unwrap_or_else(|| s.repr().map(|r| r.to_string()).unwrap_or_default())
        })
        .collect();
    let strings = names.iter().all(Option::is_some) && text(&setup).is_some();
    let setup_text = text(&setup).unwrap_or_else(|| "<callable>".into());
    let opts = engine::options(
        vec![setup_text],
        shown,
        number,
        repeat,
        time_budget,
        precision,
        gc,
        process_time,
    )?;
    let version = engine::python_version(py);
    if strings {
        engine::check(py, &opts)?;
        let python: String = py.import("sys")?.getattr("executable")?.extract()?;
        let samples = py.detach(|| engine::run(&opts, engine::in_worker(&python), |_| {}))?;
        // Ctrl-C in the caller's process is the caller's KeyboardInterrupt, partial or not.
        if samples.stop == Some(Stop::Interrupted) {
            return Err(Error::Interrupted.into());
        }
        return Ok(BenchResult {
            report: build::bench(&samples, &opts, &version, false),
            unit: None,
        });
    }
    let timers = engine::worker::timers(py, &stmts, &setup, gc, process_time)?;
    let samples = engine::run(&opts, engine::in_this_process(py, &timers), |_| {})?;
    Ok(BenchResult {
        report: build::bench(&samples, &opts, &version, true),
        unit: None,
    })
}

/// The result of `refscope.size`: prints as the terminal table.
#[pyclass(module = "refscope", frozen)]
pub struct SizeResult {
    report: crate::record::size::SizeReport,
    top: usize,
}

#[pymethods]
impl SizeResult {
    #[getter]
    fn shallow(&self) -> u64 {
        self.report.shallow
    }
    #[getter]
    fn deep(&self) -> u64 {
        self.report.deep
    }
    /// None when measured with `retained=False`.
    #[getter]
    fn retained(&self) -> Option<u64> {
        self.report.retained
    }
    /// Objects counted in `deep`.
    #[getter]
    fn objects(&self) -> u64 {
        self.report.objects
    }
    #[getter]
    fn retained_objects(&self) -> Option<u64> {
        self.report.retained_objects
    }
    /// Objects whose `__sizeof__` raised: counted as 0 B.
    #[getter]
    fn unsized_objects(&self) -> u64 {
        self.report.unsized_objects
    }
    /// {type name: (count, deep bytes, retained bytes)}
    #[getter]
    fn by_type(&self) -> std::collections::BTreeMap<String, (u64, u64, u64)> {
        let mut out = std::collections::BTreeMap::new();
        for t in &self.report.by_type {
            // Two classes may share a name: their rows add up.
            let e: &mut (u64, u64, u64) = out.entry(t.type_name.clone()).or_default();
            *e = (e.0 + t.count, e.1 + t.bytes, e.2 + t.retained_bytes);
        }
        out
    }
    /// [(path, type name, bytes)] of the largest objects inside.
    #[getter]
    fn largest(&self) -> Vec<(String, String, u64)> {
        self.report
            .largest
            .iter()
            .map(|p| (p.path.clone(), p.type_name.clone(), p.shallow))
            .collect()
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (serde_json::to_string(&self.report).expect("serializes"),))
    }
    fn to_json(&self) -> String {
        Json.render(&self.report)
    }
    /// `refscope size --html`'s page.
    fn to_html(&self) -> String {
        Html.render(&self.report)
    }
    fn _repr_html_(&self) -> String {
        crate::report::html::embed(&self.to_html())
    }
    #[pyo3(signature = (include = None, exclude = None))]
    fn _repr_mimebundle_<'py>(
        &self,
        py: Python<'py>,
        include: Option<Bound<'py, PyAny>>,
        exclude: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (include, exclude);
        block::bundle(py, &self.__repr__(), &self._repr_html_(), &self.to_json(), "size")
    }
    fn __repr__(&self) -> String {
        anstream::adapter::strip_str(&Terminal::top(self.top).render(&self.report)).to_string()
    }
}

/// Shallow, deep and retained size of `obj` (see docs/sizes.md for what is counted).
/// `retained=False` measures the deep size alone, faster (no retained size, no largest parts).
#[pyfunction]
#[pyo3(signature = (obj, *, include_shared = false, top = 10, retained = true))]
pub fn size(
    py: Python<'_>,
    obj: Bound<'_, PyAny>,
    include_shared: bool,
    top: usize,
    retained: bool,
) -> PyResult<SizeResult> {
    let what = describe(py, &obj)?;
    Ok(SizeResult {
        report: crate::objects::measure(py, &obj, &what, include_shared, top, retained, crate::objects::never)?,
        top,
    })
}

/// A short repr of `obj` for the report's title. reprlib bounds the work (repr() of a
/// million-item list would cost more than measuring it), but it sorts a dict's keys or a set's
/// items to show the first few: a big one shows its first few in its own order instead.
fn describe(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    use pyo3::types::{PyDict, PySet};
    const SHOWN: usize = 4;
    let reprlib = py.import("reprlib")?;
    let short = |o: &Bound<'_, PyAny>| -> PyResult<String> { reprlib.call_method1("repr", (o,))?.extract() };
    if let (Ok(d), true) = (obj.cast::<PyDict>(), obj.is_exact_instance_of::<PyDict>()) {
        if d.len() > 64 {
            let few = PyDict::new(py);
            for (k, v) in d.iter().take(SHOWN) {
                few.set_item(k, v)?;
            }
            let r = short(few.as_any())?;
            return Ok(format!("{}, ...}}", r.strip_suffix('}').unwrap_or(&r)));
        }
    }
    if let (Ok(s), true) = (obj.cast::<PySet>(), obj.is_exact_instance_of::<PySet>()) {
        if s.len() > 64 {
            let few = PySet::new(py, s.iter().take(SHOWN))?;
            let r = short(few.as_any())?;
            return Ok(format!("{}, ...}}", r.strip_suffix('}').unwrap_or(&r)));
        }
    }
    short(obj)
}

/// The live object with this `id()` and what refers to it, or None when no live object has it.
#[pyfunction]
pub fn whois(py: Python<'_>, id: usize) -> PyResult<Option<Py<PyAny>>> {
    let Some(obj) = crate::objects::find::by_id(py, id)? else {
        return Ok(None);
    };
    let names = crate::objects::find::paths(py, &obj, 5)?;
    let ns = py.import("types")?.getattr("SimpleNamespace")?;
    let kw = pyo3::types::PyDict::new(py);
    let p = obj.as_ptr();
    // CPython's count, less the one reference this call holds; immortal objects have no count.
    // SAFETY: GIL held; `obj` holds `p`.
    let count = unsafe { (!crate::cpython::is_immortal(p)).then(|| pyo3::ffi::Py_REFCNT(p) - 1) };
    kw.set_item("refcount", count)?;
    kw.set_item("obj", &obj)?;
    kw.set_item("id", id)?;
    kw.set_item("type", obj.get_type().name()?)?;
    kw.set_item("paths", names)?;
    Ok(Some(ns.call((), Some(&kw))?.unbind()))
}

/// Up to `limit` shortest reference paths from the program's roots to `obj`.
#[pyfunction]
#[pyo3(signature = (obj, limit = 3))]
pub fn paths(py: Python<'_>, obj: Bound<'_, PyAny>, limit: usize) -> PyResult<Vec<String>> {
    crate::objects::find::paths(py, &obj, limit)
}
