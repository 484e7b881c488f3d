//! CPython 3.9–3.11: a C trace function per thread (`PyEval_SetTrace`), never a Python callback.
//!
//! There is one trace hook per thread, so refscope shares it with the program: `sys.settrace`,
//! `threading.settrace` and `threading.gettrace` are replaced by functions that keep refscope's C
//! function installed and hand every event on to the program's own trace function, exactly as
//! CPython's would (`sys.gettrace()` answers the program's function, since it is the hook's
//! object). New threads get the C function from threading's start-up call to `sys.settrace`.
//! Frames of code that is not traced have `f_trace_lines` switched off while the program has
//! no trace function of its own, so the interpreter skips their line events.

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
pub(super) unsafe fn suspending(frame: *mut ffi::PyFrameObject) -> bool {
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

/// The trace function `install` chose, for threads that start later and for the program's
/// `sys.settrace` calls.
static TRACE: GilCell<Option<ffi::Py_tracefunc>> = GilCell::new(None);

/// What was in `sys` and `threading` before, and what the program asked `threading` for.
struct Shims {
    sys_settrace: Py<PyAny>,
    threading_settrace: Py<PyAny>,
    threading_gettrace: Option<Py<PyAny>>,
    /// The program's `threading.settrace` function.
    thread_hook: Option<Py<PyAny>>,
    /// The marker refscope keeps in `threading._trace_hook`, so threading calls `sys.settrace`.
    marker: Py<PyAny>,
    /// The event names a trace function receives, interned, by `PyTrace_*` number.
    whats: Vec<Py<PyAny>>,
    /// A code object of refscope's: its call event tells that refscope's function is still
    /// the hook.
    probe: Py<PyAny>,
}

static SHIMS: GilCell<Option<Shims>> = GilCell::new(None);

/// CPython's own `sys.settrace`, for a shim the program kept and calls after refscope is gone.
static ORIGINAL: GilCell<Option<Py<PyAny>>> = GilCell::new(None);

/// Set by the trace function when the probe runs.
static PROBED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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
    obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
) -> c_int {
    let t = clock::ticks();
    // SAFETY: called by the interpreter with the GIL held for a live frame, never re-entered on
    // this thread while refscope's part runs.
    unsafe {
        if !measure::<E>(obj, frame, what, arg, t) {
            return 0;
        }
        if obj.is_null() {
            return 0;
        }
        // The program's own trace function runs as the program's work, not refscope's.
        trampoline(obj, frame, what, arg)
    }
}

/// refscope's part of an event; false for the probe's call, which is nobody's.
///
/// # Safety
/// As `trace`.
#[inline(always)]
unsafe fn measure<E: Events>(
    obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
    t: u64,
) -> bool {
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
    // SAFETY: GIL held, not re-entered (the caller's promise).
    let suspended = unsafe { SUSPENDED.get() }.get_or_insert_with(FxHashSet::default);
    match what {
        ffi::PyTrace_LINE => {
            // SAFETY: `frame` is the live frame of this event.
            E::line(key, code, unsafe { line(frame) }, t);
        }
        ffi::PyTrace_CALL => {
            // SAFETY: GIL held; SHIMS is only replaced outside events.
            if unsafe { SHIMS.get() }
                .as_ref()
                .is_some_and(|s| s.probe.as_ptr() == code())
            {
                PROBED.store(true, std::sync::atomic::Ordering::Relaxed);
                return false;
            }
            forget_frame::<E>(frame);
            let traced = E::start(key, code(), t, |generator| {
                let resumed = generator && suspended.remove(&key);
                // SAFETY: `frame` is the live frame of this event.
                (resumed, resumed.then(|| unsafe { line(frame) }))
            });
            if !traced {
                // Skip the lines of untraced code, unless the program's own tracer may want them.
                // SAFETY: `frame` is live and starts with this version's `PyFrameObject` fields.
                unsafe { (*frame.cast::<PyFrameObject>()).f_trace_lines = (!obj.is_null()).into() };
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
    true
}

/// Hands an event to the program's trace function as CPython's own `sys.settrace` machinery does
/// (`trace_trampoline` in `Python/sysmodule.c`, 3.9–3.11): the call event goes to the global
/// function, every other event to the frame's `f_trace`, whose answer replaces it; an exception
/// in it removes the program's function (refscope's stays) and propagates.
///
/// # Safety
/// As `trace`, with `obj` the hook's object: the program's trace function.
unsafe fn trampoline(
    obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
) -> c_int {
    // SAFETY: GIL held; `frame` is live and starts with this version's `PyFrameObject` fields;
    // `obj` and `f_trace` are live objects the interpreter and the frame hold.
    unsafe {
        let f = frame.cast::<PyFrameObject>();
        let callback = if what == ffi::PyTrace_CALL { obj } else { (*f).f_trace };
        let Some(name) = SHIMS.get().as_ref().and_then(|s| s.whats.get(what as usize)) else {
            return 0;
        };
        if callback.is_null() {
            return 0;
        }
        if ffi::PyFrame_FastToLocalsWithError(frame) < 0 {
            return -1;
        }
        let args = [
            frame.cast::<ffi::PyObject>(),
            name.as_ptr(),
            if arg.is_null() { ffi::Py_None() } else { arg },
        ];
        let result = ffi::PyObject_Vectorcall(callback, args.as_ptr(), 3, std::ptr::null_mut());
        ffi::PyFrame_LocalsToFast(frame, 1);
        if result.is_null() {
            ffi::PyTraceBack_Here(frame);
            if let Some(trace) = *TRACE.get() {
                ffi::PyEval_SetTrace(Some(trace), std::ptr::null_mut());
            }
            let old = std::mem::replace(&mut (*f).f_trace, std::ptr::null_mut());
            ffi::Py_XDECREF(old);
            return -1;
        }
        if result == ffi::Py_None() {
            ffi::Py_DECREF(result);
        } else {
            let old = std::mem::replace(&mut (*f).f_trace, result);
            ffi::Py_XDECREF(old);
        }
        0
    }
}

/// 3.11 creates frame objects lazily; a trace function makes it create one for every call, so
/// that block is the tracer's doing, not the program's.
#[inline(always)]
fn forget_frame<E: Events>(frame: *mut ffi::PyFrameObject) {
    forget_frame_with(frame, E::not_the_programs)
}

/// `forget_frame`, telling `forget`.
#[inline(always)]
pub(super) fn forget_frame_with(frame: *mut ffi::PyFrameObject, forget: fn(*mut std::ffi::c_void)) {
    // The block starts at the GC header in front of the object.
    #[cfg(Py_3_11)]
    forget(frame.cast::<u8>().wrapping_sub(super::layout::GC_HEAD).cast());
    #[cfg(not(Py_3_11))]
    let _ = (frame, forget);
}

/// `sys.settrace` while refscope runs: refscope's C function stays the hook, with the program's
/// function as its object (what `sys.gettrace()` returns). Frames on this thread's stack get
/// their line events back, so the new function sees what it would see under plain python.
#[pyfunction]
#[pyo3(name = "settrace")]
fn sys_settrace(py: Python<'_>, function: Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: GIL held (a `Python` token), outside any event.
    let (trace, shims) = unsafe { (*TRACE.get(), SHIMS.get().as_ref()) };
    let (Some(trace), Some(shims)) = (trace, shims) else {
        // SAFETY: GIL held; ORIGINAL is set once by `install` and never taken.
        return match unsafe { ORIGINAL.get() }.as_ref() {
            Some(original) => original.bind(py).call1((function,)).map(drop),
            None => Ok(()),
        };
    };
    // Threading's start-up call with refscope's marker: the program's `threading.settrace`
    // function, if any, is what this thread traces with.
    let function = if function.is(shims.marker.bind(py)) {
        shims.thread_hook.as_ref().map(|h| h.bind(py).clone())
    } else {
        (!function.is_none()).then_some(function)
    };
    let obj = function.as_ref().map_or(std::ptr::null_mut(), |f| f.as_ptr());
    if !obj.is_null() {
        // SAFETY: GIL held; `PyEval_GetFrame` lends this thread's top frame, `PyFrame_GetBack`
        // gives a new reference to the next one, released once it has been visited.
        unsafe {
            let top = ffi::PyEval_GetFrame();
            let mut frame = top;
            while !frame.is_null() {
                (*frame.cast::<PyFrameObject>()).f_trace_lines = 1;
                let back = ffi::PyFrame_GetBack(frame);
                if frame != top {
                    ffi::Py_DECREF(frame.cast());
                }
                frame = back;
            }
        }
    }
    // SAFETY: GIL held; CPython keeps its own reference to `obj`.
    unsafe { ffi::PyEval_SetTrace(Some(trace), obj) };
    Ok(())
}

/// `threading.settrace` while refscope runs: new threads trace with `function`.
#[pyfunction]
#[pyo3(name = "settrace")]
fn threading_settrace(function: Bound<'_, PyAny>) {
    // SAFETY: GIL held (the argument's token), outside any event.
    if let Some(s) = unsafe { SHIMS.get() }.as_mut() {
        s.thread_hook = (!function.is_none()).then(|| function.unbind());
    }
}

/// `threading.gettrace` while refscope runs: what the program gave `threading.settrace`.
#[pyfunction]
#[pyo3(name = "gettrace")]
fn threading_gettrace(py: Python<'_>) -> Py<PyAny> {
    // SAFETY: GIL held (a `Python` token), outside any event.
    match unsafe { SHIMS.get() }.as_ref().and_then(|s| s.thread_hook.as_ref()) {
        Some(h) => h.clone_ref(py),
        None => py.None(),
    }
}

/// What `suspending` needs to know of this version's bytecode.
pub(super) fn read_opcodes(py: Python<'_>) -> PyResult<()> {
    #[cfg(Py_3_11)]
    YIELD_VALUE.store(
        py.import("dis")?.getattr("opmap")?.get_item("YIELD_VALUE")?.extract()?,
        std::sync::atomic::Ordering::Relaxed,
    );
    #[cfg(not(Py_3_11))]
    let _ = py;
    Ok(())
}

pub fn install<E: Events>(py: Python<'_>) -> PyResult<()> {
    read_opcodes(py)?;
    let sys = py.import("sys")?;
    let threading = py.import("threading")?;
    let whats = [
        "call",
        "exception",
        "line",
        "return",
        "c_call",
        "c_exception",
        "c_return",
        "opcode",
    ]
    .iter()
    .map(|w| pyo3::types::PyString::intern(py, w).into_any().unbind())
    .collect();
    let probe = py
        .import("builtins")?
        .getattr("compile")?
        .call1(("pass\n", "<refscope probe>", "exec"))?;
    // Any true object makes threading call `sys.settrace` in each new thread.
    let marker = py.import("builtins")?.getattr("object")?.call0()?.unbind();
    let shims = Shims {
        sys_settrace: sys.getattr("settrace")?.unbind(),
        threading_settrace: threading.getattr("settrace")?.unbind(),
        threading_gettrace: threading.getattr("gettrace").ok().map(Bound::unbind),
        thread_hook: None,
        marker: marker.clone_ref(py),
        whats,
        probe: probe.unbind(),
    };
    threading.getattr("settrace")?.call1((marker.bind(py),))?;
    sys.setattr("settrace", wrap_pyfunction!(sys_settrace, py)?)?;
    threading.setattr("settrace", wrap_pyfunction!(threading_settrace, py)?)?;
    if shims.threading_gettrace.is_some() {
        threading.setattr("gettrace", wrap_pyfunction!(threading_gettrace, py)?)?;
    }
    // SAFETY: GIL held (a `Python` token); no event runs refscope's function yet.
    unsafe {
        *ORIGINAL.get() = Some(shims.sys_settrace.clone_ref(py));
        *SHIMS.get() = Some(shims);
        *TRACE.get() = Some(trace::<E>);
        ffi::PyEval_SetTrace(Some(trace::<E>), std::ptr::null_mut());
    }
    Ok(())
}

/// Whether refscope's function is still this thread's hook: another tool may have set its own
/// with `PyEval_SetTrace` (coverage's C tracer does), which nothing in Python can see.
fn still_installed(py: Python<'_>) -> bool {
    // SAFETY: GIL held (a `Python` token), outside any event.
    let Some(probe) = (unsafe { SHIMS.get() }).as_ref().map(|s| s.probe.clone_ref(py)) else {
        return false;
    };
    PROBED.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = py
        .import("builtins")
        .and_then(|b| b.getattr("exec")?.call1((probe.bind(py), pyo3::types::PyDict::new(py))));
    PROBED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Stops refscope's part; the program's trace functions keep running as plain python would run
/// them. `Handover::Replaced` when another tool had taken this thread's hook.
pub fn uninstall(py: Python<'_>) -> super::Handover {
    let kept = still_installed(py);
    // SAFETY: GIL held (a `Python` token), outside any event.
    let (shims, _) = unsafe { (SHIMS.get().take(), TRACE.get().take()) };
    let Some(shims) = shims else {
        return super::Handover::Kept;
    };
    let (Ok(sys), Ok(threading)) = (py.import("sys"), py.import("threading")) else {
        return super::Handover::Kept;
    };
    let _ = sys.setattr("settrace", shims.sys_settrace.bind(py));
    let _ = threading.setattr("settrace", shims.threading_settrace.bind(py));
    if let Some(g) = &shims.threading_gettrace {
        let _ = threading.setattr("gettrace", g.bind(py));
    }
    let hook = shims
        .thread_hook
        .as_ref()
        .map_or_else(|| py.None(), |h| h.clone_ref(py));
    let _ = shims.threading_settrace.bind(py).call1((hook,));
    if !kept {
        return super::Handover::Replaced;
    }
    // The program's own function (the hook's object) now runs under CPython's machinery.
    let current = sys
        .call_method0("gettrace")
        .map(Bound::unbind)
        .unwrap_or_else(|_| py.None());
    let _ = shims.sys_settrace.bind(py).call1((current,));
    super::Handover::Kept
}
