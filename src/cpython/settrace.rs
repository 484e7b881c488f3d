//! CPython 3.9–3.11: a C trace function per thread (`PyEval_SetTrace`), never a Python callback.
//!
//! New threads get it through `threading.settrace`, whose hook runs once at the start of each
//! thread and swaps itself for the C function. Frames of code that is not traced have their
//! `f_trace_lines` switched off so the interpreter skips their line events.

use super::layout::PyFrameObject;
use super::{Events, GilCell, Leave};
use crate::clock;
use crate::site::Pause;
use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHashSet;
use std::os::raw::c_int;

pub const NAME: &str = "PyEval_SetTrace (C trace function)";

/// The frame's current line; the interpreter sets `f_lineno` before every trace call.
///
/// # Safety
/// `frame` is the live frame of a trace event.
#[inline(always)]
unsafe fn line(frame: *mut ffi::PyFrameObject) -> u32 {
    // SAFETY: a live frame object starts with this version's `PyFrameObject` fields.
    unsafe { (*frame.cast::<PyFrameObject>()).f_lineno.max(0) as u32 }
}

/// Whether a RETURN event is a generator or coroutine suspending rather than finishing.
///
/// # Safety
/// `frame` is the live frame of a RETURN event, with the GIL held.
unsafe fn suspending(frame: *mut ffi::PyFrameObject) -> bool {
    // SAFETY: a live frame object starts with this version's `PyFrameObject` fields.
    #[cfg(not(Py_3_10))]
    return unsafe { !(*frame.cast::<PyFrameObject>()).f_stacktop.is_null() };
    // SAFETY: a live frame object starts with this version's `PyFrameObject` fields.
    #[cfg(all(Py_3_10, not(Py_3_11)))]
    return unsafe { (*frame.cast::<PyFrameObject>()).f_state == super::layout::FRAME_SUSPENDED };
    // SAFETY: the caller's guarantee is `yield_at_lasti`'s.
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
///
/// # Safety
/// `frame` is a live frame, with the GIL held.
#[cfg(Py_3_11)]
unsafe fn yield_at_lasti(frame: *mut ffi::PyFrameObject) -> bool {
    // SAFETY: GIL held and `frame` live. YIELD_CODE is borrowed only here, inside one trace
    // callback. `PyFrame_GetCode` and `co_code` are new references, each released after use; the
    // bytes' buffer is copied while `b` holds it.
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

/// The C trace function (`Py_tracefunc`).
///
/// # Safety
/// Called by the interpreter with the GIL held, `frame` live for the call, never re-entered on
/// one thread; or by `thread_hook` on the same terms.
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
                // SAFETY: `frame` is live and starts with this version's `PyFrameObject` fields.
                unsafe { (*frame.cast::<PyFrameObject>()).f_trace_lines = 0 };
            }
        }
        ffi::PyTrace_RETURN => {
            let generator = E::end(key, code, t) == (Leave::Traced { generator: true });
            // A null `arg` is an exception leaving the frame (GeneratorExit thrown in at a yield,
            // among others): the frame is finished, not suspended.
            // SAFETY: `frame` is the live frame of this RETURN event, with the GIL held.
            if generator && !arg.is_null() && unsafe { suspending(frame) } {
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
    // The block starts at the GC header in front of the object.
    #[cfg(Py_3_11)]
    E::not_the_programs(frame.cast::<u8>().wrapping_sub(super::layout::GC_HEAD).cast());
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
    // SAFETY: GIL held (a `Python` token).
    unsafe { ffi::PyEval_SetTrace(None, std::ptr::null_mut()) };
    if let Ok(threading) = py.import("threading") {
        let _ = threading.call_method1("settrace", (py.None(),));
    }
}
