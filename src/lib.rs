//! refscope: see what your Python code does to memory and time.
//!
//! This file lists the modules and is the one place that decides what Python sees.

mod bench;
mod capture;
mod cli;
mod clock;
mod cpython;
mod error;
mod explain;
mod launcher;
mod memory;
mod objects;
mod profiler;
mod py;
mod record;
mod report;
mod serve;
mod site;
mod spawn;
mod stats;
mod tracer;
mod worker;

use pyo3::prelude::*;

#[pymodule]
fn _refscope(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(cli::main, m)?)?;
    m.add_function(wrap_pyfunction!(worker::_worker, m)?)?;
    m.add_function(wrap_pyfunction!(worker::_child, m)?)?;
    m.add_function(wrap_pyfunction!(bench::worker::_bench_worker, m)?)?;
    m.add_function(wrap_pyfunction!(py::bench, m)?)?;
    m.add_class::<py::BenchResult>()?;
    m.add_function(wrap_pyfunction!(py::size, m)?)?;
    m.add_function(wrap_pyfunction!(py::whois, m)?)?;
    m.add_function(wrap_pyfunction!(py::paths, m)?)?;
    m.add_class::<py::SizeResult>()?;
    m.add_function(wrap_pyfunction!(py::trace, m)?)?;
    m.add_function(wrap_pyfunction!(py::_trace_code, m)?)?;
    m.add_class::<py::Trace>()?;
    m.add_class::<py::RunResult>()?;
    m.add_function(wrap_pyfunction!(py::profile, m)?)?;
    m.add_class::<py::ProfileResult>()?;
    m.add_function(wrap_pyfunction!(py::explain, m)?)?;
    m.add_class::<py::ExplainResult>()?;
    m.add_function(wrap_pyfunction!(py::_magic, m)?)?;
    m.add_function(wrap_pyfunction!(py::_magic_value_options, m)?)?;
    Ok(())
}
