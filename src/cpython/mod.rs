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

/// `sys.getsizeof` of an exact int, from its digit count (the layout changed in 3.12).
///
/// # Safety
/// `o` is a live exact int.
#[inline]
pub unsafe fn int_sizeof(o: *mut pyo3::ffi::PyObject) -> u64 {
    const HEAD: u64 = 24; // offsetof(PyLongObject, ob_digit)
    const DIGIT: u64 = 4;
    unsafe {
        let word = *((o as *const u8).add(16) as *const isize);
        #[cfg(Py_3_12)]
        let digits = (word as usize >> 3) as u64; // lv_tag
        #[cfg(not(Py_3_12))]
        let digits = word.unsigned_abs() as u64; // ob_size
        #[cfg(Py_3_11)]
        let digits = digits.max(1);
        HEAD + digits * DIGIT
    }
}

/// What `sys.getsizeof` adds to `__sizeof__` for instances of `tp`: the 16-byte GC header of
/// container types and, on 3.11+, the pre-header of managed dicts (3.12+: and weak references).
///
/// # Safety
/// `tp` is a live type.
pub unsafe fn type_preheader(tp: *mut pyo3::ffi::PyTypeObject) -> u64 {
    use pyo3::ffi;
    unsafe {
        let flags = ffi::PyType_GetFlags(tp);
        let gc = if flags & ffi::Py_TPFLAGS_HAVE_GC != 0 { 16 } else { 0 };
        #[cfg(Py_3_12)]
        let pre = ffi::Py_TPFLAGS_MANAGED_DICT | ffi::Py_TPFLAGS_MANAGED_WEAKREF;
        #[cfg(all(Py_3_11, not(Py_3_12)))]
        let pre = ffi::Py_TPFLAGS_MANAGED_DICT;
        #[cfg(not(Py_3_11))]
        let pre = 0;
        gc + if flags & pre != 0 {
            2 * std::mem::size_of::<usize>() as u64
        } else {
            0
        }
    }
}
