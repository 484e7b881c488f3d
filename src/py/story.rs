//! `refscope.explain(code)`: the step-by-step story of code, run in a fresh worker as
//! `refscope explain -c` runs it, as a Python object.

use super::block::{bundle, loads};
use crate::cli::explain::explain_program;
use crate::record::explain::Plan;
use crate::record::job::Target;
use crate::report::explain::{render as narrative, ExplainReport};
use crate::report::{html, Html, Json, Program, Render};
use pyo3::prelude::*;

/// The steps of explained code: prints as the narrative, renders as the step-through page.
#[pyclass(module = "refscope", frozen)]
pub struct ExplainResult {
    pub report: ExplainReport,
}

#[pymethods]
impl ExplainResult {
    /// Every step: the line, the names and objects after it, what changed (the `--json` schema).
    #[getter]
    fn steps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, serde_json::to_string(&self.report.steps).expect("serializes"))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, self.to_json())
    }

    fn to_json(&self) -> String {
        Json.render(&self.report)
    }

    /// `refscope explain --html`'s page.
    fn to_html(&self) -> String {
        Html.render(&self.report)
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
        bundle(py, &self.__repr__(), &self._repr_html_(), &self.to_json(), "explain")
    }

    fn __repr__(&self) -> String {
        anstream::adapter::strip_str(&narrative(&self.report)).to_string()
    }
}

/// Explains `code` step by step in a fresh interpreter (names, objects, references, frees,
/// cycles, GC runs), as `refscope explain -c CODE`.
#[pyfunction]
#[pyo3(signature = (code, *, max_steps = 10_000, max_objects = 100, depth = 4, timeout = 60.0))]
pub fn explain(
    py: Python<'_>,
    code: String,
    max_steps: u32,
    max_objects: u32,
    depth: u32,
    timeout: f64,
) -> PyResult<ExplainResult> {
    Ok(ExplainResult {
        report: explain_code(
            py,
            code,
            Plan {
                max_steps,
                max_objects,
                depth,
            },
            timeout,
        )?,
    })
}

/// Runs `code` under the step tracer in a worker.
pub fn explain_code(py: Python<'_>, code: String, plan: Plan, timeout: f64) -> PyResult<ExplainReport> {
    crate::cli::run::check_syntax(
        py,
        pyo3::types::PyString::new(py, &code).into_any(),
        "<string>",
        "<string>",
    )?;
    let python: String = py.import("sys")?.getattr("executable")?.extract()?;
    let cwd = std::env::current_dir().map_err(|_| crate::error::Error::NoCwd)?;
    let program = Program {
        kind: "code".into(),
        target: "-c".into(),
        argv: Vec::new(),
    };
    let target = Target::Code { code: code.clone() };
    let (rep, _) = py.detach(|| explain_program(&python, target, program, plan, timeout, &cwd, Some(&code)))?;
    Ok(rep)
}
