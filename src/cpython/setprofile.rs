//! CPython 3.9–3.11: calls and returns for `refscope profile` through a C profile function
//! (`PyEval_SetProfile`), installed per thread; threads the `threading` module starts get it
//! before their target runs (`calls::watch_threads`).

use super::calls::{c_callable, thread_name, unwatch_threads, watch_threads, Calls};
use super::settrace::{forget_frame_with, read_opcodes, suspending};
use super::GilCell;
use crate::clock;
use crate::site::Pause;
use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHashSet;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};

pub const NAME: &str = "PyEval_SetProfile (C profile function)";

/// Frames of generators and coroutines suspended at a yield or await: their next CALL resumes them.
static SUSPENDED: GilCell<Option<FxHashSet<usize>>> = GilCell::new(None);

/// The profile function `install` chose, for threads that start later.
static PROFILE: GilCell<Option<ffi::Py_tracefunc>> = GilCell::new(None);

/// A code object of refscope's: its call event tells that refscope's function is still the hook.
static PROBE: GilCell<Option<Py<PyAny>>> = GilCell::new(None);
static PROBED: AtomicBool = AtomicBool::new(false);

/// The C profile function (`Py_tracefunc`).
///
/// # Safety
/// Called by the interpreter with the GIL held, `frame` live for the call, never re-entered on
/// one thread.
unsafe extern "C" fn profile<C: Calls>(
    _obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
) -> c_int {
    let t = clock::ticks();
    let _pause = Pause::new();
    let key = frame as usize;
    // SAFETY: GIL held and not re-entered (the interpreter's promise); `frame` is live and keeps
    // its code alive; `arg` is the C callable of C_* events.
    unsafe {
        let suspended = SUSPENDED.get().get_or_insert_with(FxHashSet::default);
        match what {
            ffi::PyTrace_CALL => {
                let code = ffi::PyFrame_GetCode(frame) as *mut ffi::PyObject;
                ffi::Py_DECREF(code);
                if PROBE.get().as_ref().is_some_and(|p| p.as_ptr() == code) {
                    PROBED.store(true, Ordering::Relaxed);
                    return 0;
                }
                forget_frame_with(frame, C::not_the_programs);
                C::enter(key, code, t, |generator| generator && suspended.remove(&key));
            }
            // A null `arg` is an exception leaving the frame: finished, not suspended.
            ffi::PyTrace_RETURN if C::leave(key, t) && !arg.is_null() && suspending(frame) => {
                suspended.insert(key);
            }
            ffi::PyTrace_C_CALL => {
                C::call(c_callable(arg), arg, t);
            }
            ffi::PyTrace_C_RETURN | ffi::PyTrace_C_EXCEPTION => {
                if let Some(c) = c_callable(arg) {
                    C::c_return(c, t);
                }
            }
            _ => {}
        }
    }
    0
}

/// A new thread: refscope's function becomes its hook.
fn on_thread<C: Calls>(py: Python<'_>) {
    // SAFETY: GIL held (a `Python` token), outside any event.
    if let Some(f) = unsafe { *PROFILE.get() } {
        // SAFETY: GIL held; the function needs no object.
        unsafe { ffi::PyEval_SetProfile(Some(f), std::ptr::null_mut()) };
    }
    C::thread_started(thread_name(py));
}

pub fn install<C: Calls>(py: Python<'_>) -> PyResult<()> {
    read_opcodes(py)?;
    let probe = py
        .import("builtins")?
        .getattr("compile")?
        .call1(("pass\n", "<refscope probe>", "exec"))?;
    watch_threads(py, on_thread::<C>)?;
    // SAFETY: GIL held (a `Python` token); no event runs refscope's function yet.
    unsafe {
        *PROBE.get() = Some(probe.unbind());
        *PROFILE.get() = Some(profile::<C>);
        ffi::PyEval_SetProfile(Some(profile::<C>), std::ptr::null_mut());
    }
    Ok(())
}

/// Stops refscope's part on this thread; `Handover::Replaced` when another tool had taken the
/// hook (cProfile's `enable()` calls `PyEval_SetProfile` itself).
pub fn uninstall(py: Python<'_>) -> super::Handover {
    unwatch_threads(py);
    // SAFETY: GIL held (a `Python` token), outside any event.
    let Some(probe) = (unsafe { PROBE.get() }).as_ref().map(|p| p.clone_ref(py)) else {
        return super::Handover::Kept;
    };
    PROBED.store(false, Ordering::Relaxed);
    let _ = py
        .import("builtins")
        .and_then(|b| b.getattr("exec")?.call1((probe.bind(py), pyo3::types::PyDict::new(py))));
    // SAFETY: as above.
    let installed = unsafe {
        PROBE.get().take();
        PROFILE.get().take()
    };
    if !PROBED.load(Ordering::Relaxed) {
        return super::Handover::Replaced;
    }
    if installed.is_some() {
        // SAFETY: GIL held; removes refscope's function, which is this thread's hook.
        unsafe { ffi::PyEval_SetProfile(None, std::ptr::null_mut()) };
    }
    super::Handover::Kept
}
