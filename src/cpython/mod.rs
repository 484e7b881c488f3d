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

/// What `sys.getsizeof` adds to `__sizeof__`: the GC header and, on 3.11+, the pre-header slots
/// of managed dicts (and, 3.12+, managed weak references).
///
/// # Safety
/// GIL held; `o` is a live object.
pub unsafe fn preheader(o: *mut pyo3::ffi::PyObject) -> u64 {
    use pyo3::ffi;
    const GC_HEAD: u64 = 16;
    unsafe {
        #[cfg(not(Py_3_11))]
        {
            if ffi::PyObject_IS_GC(o) != 0 {
                GC_HEAD
            } else {
                0
            }
        }
        #[cfg(Py_3_11)]
        {
            let tp = ffi::Py_TYPE(o);
            let flags = ffi::PyType_GetFlags(tp);
            let gc = if flags & ffi::Py_TPFLAGS_HAVE_GC != 0 {
                GC_HEAD
            } else {
                0
            };
            #[cfg(Py_3_12)]
            let pre = ffi::Py_TPFLAGS_MANAGED_DICT | ffi::Py_TPFLAGS_MANAGED_WEAKREF;
            #[cfg(not(Py_3_12))]
            let pre = ffi::Py_TPFLAGS_MANAGED_DICT;
            gc + if flags & pre != 0 {
                2 * std::mem::size_of::<usize>() as u64
            } else {
                0
            }
        }
    }
}

/// Immortal objects (3.12+) never die and their counts mean nothing; before 3.12 there are none.
///
/// # Safety
/// `o` is a live object.
#[inline]
pub unsafe fn is_immortal(o: *mut pyo3::ffi::PyObject) -> bool {
    #[cfg(Py_3_12)]
    unsafe {
        (pyo3::ffi::Py_REFCNT(o) as i64 as i32) < 0
    }
    #[cfg(not(Py_3_12))]
    {
        let _ = o;
        false
    }
}
