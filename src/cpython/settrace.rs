//! CPython 3.9–3.11: a C trace function per thread (`PyEval_SetTrace`), never a Python callback.
//!
//! New threads get it through `threading.settrace`, whose hook runs once at the start of each
//! thread and swaps itself for the C function. Frames of code that is not traced have their
//! `f_trace_lines` switched off so the interpreter skips their line events.

use super::{Events, GilCell, Leave};
use crate::clock;
use crate::site::Pause;
use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHashSet;
use std::os::raw::{c_char, c_int};

pub const NAME: &str = "PyEval_SetTrace (C trace function)";

/// The leading fields of `PyFrameObject` this backend reads, per version
/// (`Include/cpython/frameobject.h` in 3.9 and 3.10, `Include/internal/pycore_frame.h` in 3.11).
#[cfg(not(Py_3_10))]
#[repr(C)]
struct Frame {
    ob_base: ffi::PyVarObject,
    f_back: *mut ffi::PyObject,
    f_code: *mut ffi::PyObject,
    f_builtins: *mut ffi::PyObject,
    f_globals: *mut ffi::PyObject,
    f_locals: *mut ffi::PyObject,
    f_valuestack: *mut *mut ffi::PyObject,
    f_stacktop: *mut *mut ffi::PyObject,
    f_trace: *mut ffi::PyObject,
    f_trace_lines: c_char,
    f_trace_opcodes: c_char,
    f_gen: *mut ffi::PyObject,
    f_lasti: c_int,
    f_lineno: c_int,
}

#[cfg(all(Py_3_10, not(Py_3_11)))]
#[repr(C)]
struct Frame {
    ob_base: ffi::PyVarObject,
    f_back: *mut ffi::PyObject,
    f_code: *mut ffi::PyObject,
    f_builtins: *mut ffi::PyObject,
    f_globals: *mut ffi::PyObject,
    f_locals: *mut ffi::PyObject,
    f_valuestack: *mut *mut ffi::PyObject,
    f_trace: *mut ffi::PyObject,
    f_stackdepth: c_int,
    f_trace_lines: c_char,
    f_trace_opcodes: c_char,
    f_gen: *mut ffi::PyObject,
    f_lasti: c_int,
    f_lineno: c_int,
    f_iblock: c_int,
    f_state: i8,
}

#[cfg(Py_3_11)]
#[repr(C)]
struct Frame {
    ob_base: ffi::PyObject,
    f_back: *mut ffi::PyObject,
    f_frame: *mut std::ffi::c_void,
    f_trace: *mut ffi::PyObject,
    f_lineno: c_int,
    f_trace_lines: c_char,
}

/// The frame's current line; the interpreter sets `f_lineno` before every trace call.
#[inline(always)]
unsafe fn line(frame: *mut ffi::PyFrameObject) -> u32 {
    unsafe { (*(frame as *mut Frame)).f_lineno.max(0) as u32 }
}

/// Whether a RETURN event is a generator or coroutine suspending rather than finishing.
unsafe fn suspending(frame: *mut ffi::PyFrameObject) -> bool {
    #[cfg(not(Py_3_10))]
    return unsafe { !(*(frame as *mut Frame)).f_stacktop.is_null() };
    #[cfg(all(Py_3_10, not(Py_3_11)))]
    return unsafe { (*(frame as *mut Frame)).f_state == -1 }; // FRAME_SUSPENDED
    #[cfg(Py_3_11)]
    return unsafe { yield_at_lasti(frame) };
}

/// The YIELD_VALUE opcode, read from `dis` at install time.
#[cfg(Py_3_11)]
static YIELD_VALUE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

#[cfg(Py_3_11)]
static YIELD_CODE: GilCell<Option<rustc_hash::FxHashMap<usize, Vec<u8>>>> = GilCell::new(None);

/// Frames of generators and coroutines suspended at a yield or await: their next CALL resumes them.
static SUSPENDED: GilCell<Option<FxHashSet<usize>>> = GilCell::new(None);

/// The trace function `install` chose, for threads that start later.
static TRACE: GilCell<Option<ffi::Py_tracefunc>> = GilCell::new(None);

/// 3.11 keeps the generator state in the (private) generator object; the instruction the frame
/// stopped at tells the same thing: a suspended frame stopped at YIELD_VALUE.
#[cfg(Py_3_11)]
unsafe fn yield_at_lasti(frame: *mut ffi::PyFrameObject) -> bool {
    unsafe {
        let yield_value = YIELD_VALUE.load(std::sync::atomic::Ordering::Relaxed);
        let lasti = ffi::PyFrame_GetLasti(frame);
        if lasti < 0 {
            return false;
        }
        let code = ffi::PyFrame_GetCode(frame) as *mut ffi::PyObject;
        let map = YIELD_CODE.get().get_or_insert_with(Default::default);
        let bytes = map.entry(code as usize).or_insert_with(|| {
            let b = ffi::PyObject_GetAttrString(code, c"co_code".as_ptr());
            if b.is_null() {
                ffi::PyErr_Clear();
                return Vec::new();
            }
            let v = std::slice::from_raw_parts(ffi::PyBytes_AsString(b) as *const u8, ffi::PyBytes_Size(b) as usize)
                .to_vec();
            ffi::Py_DECREF(b);
            v
        });
        ffi::Py_DECREF(code);
        bytes.get(lasti as usize) == Some(&yield_value)
    }
}

unsafe extern "C" fn trace<E: Events>(
    _obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
) -> c_int {
    let t = clock::ticks();
    let _pause = Pause::new();
    let key = frame as usize;
    let code = || {
        // SAFETY: `frame` is the live frame of this event; the frame keeps its code alive.
        unsafe {
            let c = ffi::PyFrame_GetCode(frame) as *mut ffi::PyObject;
            ffi::Py_DECREF(c);
            c
        }
    };
    // SAFETY: called by the interpreter with the GIL held, never re-entered on this thread.
    let suspended = unsafe { SUSPENDED.get() }.get_or_insert_with(FxHashSet::default);
    match what {
        ffi::PyTrace_LINE => {
            // SAFETY: `frame` is the live frame of this event.
            E::line(key, code, unsafe { line(frame) }, t);
        }
        ffi::PyTrace_CALL => {
            forget_frame::<E>(frame);
            let traced = E::start(key, code(), t, |generator| {
                let resumed = generator && suspended.remove(&key);
                // SAFETY: `frame` is the live frame of this event.
                (resumed, resumed.then(|| unsafe { line(frame) }))
            });
            if !traced {
                // SAFETY: `frame` is a live frame object of this version's layout.
                unsafe { (*(frame as *mut Frame)).f_trace_lines = 0 };
            }
        }
        ffi::PyTrace_RETURN => {
            // A null `arg` is an exception leaving the frame (GeneratorExit thrown in at a yield,
            // among others): the frame is finished, not suspended.
            if E::end(key, code, t) == (Leave::Traced { generator: true })
                && !arg.is_null()
                // SAFETY: `frame` is the live frame of this event.
                && unsafe { suspending(frame) }
            {
                suspended.insert(key);
            }
        }
        _ => {}
    }
    0
}

/// 3.11 creates frame objects lazily; a trace function makes it create one for every call, so
/// that block is the tracer's doing, not the program's.
#[inline(always)]
fn forget_frame<E: Events>(frame: *mut ffi::PyFrameObject) {
    #[cfg(Py_3_11)]
    {
        // The block starts at the GC header in front of the object.
        const GC_HEAD: usize = 16;
        E::not_the_programs(frame.cast::<u8>().wrapping_sub(GC_HEAD).cast());
    }
    #[cfg(not(Py_3_11))]
    let _ = frame;
}

/// `threading.settrace` hook: runs in each new thread, installs the C trace function there and
/// hands it the thread's first event.
#[pyfunction]
fn thread_hook(py: Python<'_>, frame: Bound<'_, PyAny>, event: &str, arg: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let _ = arg;
    // SAFETY: runs with the GIL held; TRACE was set by `install` before this hook could run.
    let Some(trace) = (unsafe { *TRACE.get() }) else {
        return Ok(py.None());
    };
    // SAFETY: GIL held; `frame` is this thread's running frame, handed to the hook by threading.
    unsafe {
        ffi::PyEval_SetTrace(Some(trace), std::ptr::null_mut());
        if event == "call" {
            trace(
                std::ptr::null_mut(),
                frame.as_ptr() as *mut ffi::PyFrameObject,
                ffi::PyTrace_CALL,
                ffi::Py_None(),
            );
        }
    }
    Ok(py.None())
}

pub fn install<E: Events>(py: Python<'_>) -> PyResult<()> {
    #[cfg(Py_3_11)]
    YIELD_VALUE.store(
        py.import("dis")?.getattr("opmap")?.get_item("YIELD_VALUE")?.extract()?,
        std::sync::atomic::Ordering::Relaxed,
    );
    // SAFETY: GIL held (a `Python` token); nothing else borrows TRACE.
    unsafe { *TRACE.get() = Some(trace::<E>) };
    let hook = wrap_pyfunction!(thread_hook, py)?;
    py.import("threading")?.call_method1("settrace", (hook,))?;
    // SAFETY: GIL held; the trace function lives for the whole process.
    unsafe { ffi::PyEval_SetTrace(Some(trace::<E>), std::ptr::null_mut()) };
    Ok(())
}

pub fn uninstall(py: Python<'_>) {
    unsafe { ffi::PyEval_SetTrace(None, std::ptr::null_mut()) };
    if let Ok(threading) = py.import("threading") {
        let _ = threading.call_method1("settrace", (py.None(),));
    }
}
