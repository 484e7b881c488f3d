//! The program's Python children. A fork goes on measuring in a capture of its own (see
//! `capture::followed` and the worker's fork handler). A new interpreter the program starts
//! (multiprocessing's spawn and forkserver, `subprocess` running `python`) inherits
//! `REFSCOPE_CHILD`; `refscope.pth` then calls `_child` while `site` runs, before the main
//! module, and the child measures itself as the worker would, into `<pid>.capture` of the run
//! directory.

use super::{filter, measure, on_exit, process, start_clock, start_record, tracer};
use crate::capture::Writer;
use crate::cpython::GilCell;
use crate::record::job::{ChildJob, CHILD_ENV};
use crate::record::Origin;
use crate::tracer::TRACER;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};

/// Where this process's children write their captures, once it measures them.
static CHILDREN: GilCell<Option<ChildJob>> = GilCell::new(None);

/// Hands the run to the program's children through the process environment, which they inherit,
/// but not through `os.environ`: the program sees the environment it would see without refscope.
pub(super) fn export(job: &ChildJob) {
    let json = serde_json::to_string(job).expect("jobs serialize");
    let (Ok(key), Ok(value)) = (std::ffi::CString::new(CHILD_ENV), std::ffi::CString::new(json)) else {
        return;
    };
    // SAFETY: two NUL-terminated strings; the worker has no other thread yet.
    unsafe { libc::setenv(key.as_ptr(), value.as_ptr(), 1) };
    // SAFETY: GIL held; nothing else borrows CHILDREN.
    unsafe { *CHILDREN.get() = Some(job.clone()) };
}

/// Takes `REFSCOPE_CHILD` out of `os.environ` (a snapshot of the environment made at startup)
/// and leaves it in the process environment, for this child's own children.
fn hide(py: Python<'_>) -> PyResult<()> {
    let environ = py.import("os")?.getattr("environ")?;
    let key = environ.call_method1("encodekey", (CHILD_ENV,))?;
    environ.getattr("_data")?.call_method1("pop", (key, py.None()))?;
    Ok(())
}

/// Called by `refscope.pth` when `REFSCOPE_CHILD` is set. Never fails: whatever goes wrong, the
/// program runs as it would, unmeasured.
#[pyfunction]
pub fn _child(py: Python<'_>) {
    let _ = start(py);
}

fn start(py: Python<'_>) -> PyResult<()> {
    // SAFETY: GIL held; the borrows end before any Python code runs.
    if unsafe { TRACER.get() }.is_some() || unsafe { CHILDREN.get() }.is_some() || crate::explain::active() {
        return Ok(());
    }
    let json = std::env::var(CHILD_ENV).unwrap_or_default();
    hide(py)?;
    let Ok(job) = serde_json::from_str::<ChildJob>(&json) else {
        return Ok(());
    };
    let path = Path::new(&job.dir).join(format!("{}.capture", std::process::id()));
    let Ok(mut out) = Writer::create(&path) else {
        return Ok(());
    };
    out.log(&start_record(&py.import("sys")?, false)?);
    out.log(&process(Origin::Spawn));
    out.follow_forks(Some(Path::new(&job.dir)));
    let roots = job.roots.iter().map(PathBuf::from).collect();
    let filter = filter(py, &job.cwd, roots, &job.include, vec![], job.all)?;
    let tracer = tracer(py, None, out, filter, None)?;
    on_exit(py)?;
    // SAFETY: GIL held; nothing else borrows CHILDREN.
    unsafe { *CHILDREN.get() = Some(job.clone()) };
    measure(py, tracer, job.memory);
    start_clock();
    Ok(())
}
