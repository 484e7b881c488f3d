//! The one place that knows how CPython versions differ.
//!
//! 3.9–3.11 deliver trace events through a C trace function (`PyEval_SetTrace`), installed per
//! thread; 3.12+ through `sys.monitoring` (PEP 669) with C callbacks, process-wide. Both feed
//! the same `tracer::Tracer`.

#[cfg(Py_3_12)]
mod monitoring;
#[cfg(not(Py_3_12))]
mod settrace;

#[cfg(Py_3_12)]
use monitoring as backend;
#[cfg(not(Py_3_12))]
use settrace as backend;

use pyo3::prelude::*;

/// What the report says traced the program.
pub fn tracer_name() -> &'static str {
    backend::NAME
}

/// Starts delivering events to `tracer::TRACER` (which must be set) on every thread.
pub fn install(py: Python<'_>) -> PyResult<()> {
    backend::install(py)
}

/// Stops delivering events; safe to call twice.
pub fn uninstall(py: Python<'_>) {
    backend::uninstall(py)
}

/// The code object of the innermost running Python frame, if any.
pub fn current_code(py: Python<'_>) -> Option<Py<PyAny>> {
    let sys = py.import("sys").ok()?;
    let frame = sys.call_method1("_getframe", (0,)).ok()?;
    frame.getattr("f_code").ok().map(|c| c.unbind())
}
