//! CPython 3.12+: calls and returns for `refscope profile`, through `sys.monitoring` (PEP 669)
//! with C callbacks, process-wide: PY_START/RESUME/THROW and RETURN/YIELD/UNWIND for Python
//! frames, CALL with C_RETURN/C_RAISE for C functions, methods and classes.

use super::calls::{c_callable, thread_name, unwatch_threads, watch_threads, Calls};
use super::monitoring::{callback, free_tool, none, take_tool, Args, Callback};
use super::GilCell;
use crate::clock;
use crate::site::Pause;
use pyo3::ffi;
use pyo3::prelude::*;

pub const NAME: &str = "sys.monitoring (PEP 669, C callbacks)";

struct Monitor {
    tool: i32,
    disable: *mut ffi::PyObject,
    events: Vec<i32>,
}

static MONITOR: GilCell<Option<Monitor>> = GilCell::new(None);

/// # Safety
/// Inside a PY_START, PY_RESUME or PY_THROW callback, with its `args`.
unsafe fn enter<C: Calls>(args: Args, resumed: bool) -> *mut ffi::PyObject {
    let t = clock::ticks();
    let _pause = Pause::new();
    // SAFETY: these callbacks get (code, instruction offset, …), with the GIL held; the offset
    // is an int CPython made for the call, not the program's.
    unsafe {
        C::not_the_programs(*args.add(1) as *mut std::ffi::c_void);
        let code = *args;
        C::enter(code as usize, code, t, |_| resumed);
        none()
    }
}

/// # Safety
/// Called by `sys.monitoring` as a PY_START callback.
unsafe extern "C" fn on_start<C: Calls>(_s: *mut ffi::PyObject, args: Args, _n: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    // SAFETY: called by the interpreter as a PY_START callback.
    unsafe { enter::<C>(args, false) }
}

/// # Safety
/// Called by `sys.monitoring` as a PY_RESUME or PY_THROW callback.
unsafe extern "C" fn on_resume<C: Calls>(
    _s: *mut ffi::PyObject,
    args: Args,
    _n: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by the interpreter as a PY_RESUME or PY_THROW callback.
    unsafe { enter::<C>(args, true) }
}

/// # Safety
/// Called by `sys.monitoring` as a PY_RETURN, PY_YIELD or PY_UNWIND callback.
unsafe extern "C" fn on_leave<C: Calls>(_s: *mut ffi::PyObject, args: Args, _n: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    let t = clock::ticks();
    let _pause = Pause::new();
    // SAFETY: these callbacks get (code, offset, value), with the GIL held.
    unsafe {
        C::not_the_programs(*args.add(1) as *mut std::ffi::c_void);
        C::leave(*args as usize, t);
        none()
    }
}

/// # Safety
/// Called by `sys.monitoring` as a CALL callback.
unsafe extern "C" fn on_call<C: Calls>(_s: *mut ffi::PyObject, args: Args, _n: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    let t = clock::ticks();
    let _pause = Pause::new();
    // SAFETY: CALL callbacks get (code, offset, callable, first argument), with the GIL held;
    // no other borrow of MONITOR is live in a callback.
    unsafe {
        C::not_the_programs(*args.add(1) as *mut std::ffi::c_void);
        let object = *args.add(2);
        if C::call(c_callable(object), object, t) {
            return none();
        }
        match MONITOR.get() {
            Some(m) => ffi::Py_NewRef(m.disable),
            None => none(),
        }
    }
}

/// # Safety
/// Called by `sys.monitoring` as a C_RETURN or C_RAISE callback.
unsafe extern "C" fn on_c_return<C: Calls>(
    _s: *mut ffi::PyObject,
    args: Args,
    _n: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    let t = clock::ticks();
    let _pause = Pause::new();
    // SAFETY: these callbacks get (code, offset, callable, first argument), with the GIL held.
    unsafe {
        C::not_the_programs(*args.add(1) as *mut std::ffi::c_void);
        if let Some(c) = c_callable(*args.add(2)) {
            C::c_return(c, t);
        }
        none()
    }
}

pub fn install<C: Calls>(py: Python<'_>) -> PyResult<()> {
    let (mon, tool) = take_tool(py)?;
    let ev = mon.getattr("events")?;
    let e = |n: &str| -> PyResult<i32> { ev.getattr(n)?.extract() };
    let table: [(&str, &'static std::ffi::CStr, Callback); 9] = [
        ("PY_START", c"refscope_start", on_start::<C>),
        ("PY_RESUME", c"refscope_resume", on_resume::<C>),
        ("PY_THROW", c"refscope_throw", on_resume::<C>),
        ("PY_RETURN", c"refscope_return", on_leave::<C>),
        ("PY_YIELD", c"refscope_yield", on_leave::<C>),
        ("PY_UNWIND", c"refscope_unwind", on_leave::<C>),
        ("CALL", c"refscope_call", on_call::<C>),
        ("C_RETURN", c"refscope_c_return", on_c_return::<C>),
        ("C_RAISE", c"refscope_c_raise", on_c_return::<C>),
    ];
    let mut mask = 0;
    let mut events = Vec::new();
    for (name, cname, f) in table {
        let bit = e(name)?;
        mon.call_method1("register_callback", (tool, bit, callback(py, cname, f)?))?;
        mask |= bit;
        events.push(bit);
    }
    let disable = mon.getattr("DISABLE")?.into_ptr();
    // SAFETY: GIL held (a `Python` token); no callback runs yet, so nothing else borrows MONITOR.
    unsafe { *MONITOR.get() = Some(Monitor { tool, disable, events }) };
    // Before events flow, so threading's own set-up is not profiled.
    watch_threads(py, |py| C::thread_started(thread_name(py)))?;
    mon.call_method1("set_events", (tool, mask))?;
    Ok(())
}

pub fn uninstall(py: Python<'_>) -> super::Handover {
    unwatch_threads(py);
    // SAFETY: GIL held (a `Python` token), outside any callback.
    if let Some(m) = unsafe { MONITOR.get() }.take() {
        free_tool(py, m.tool, &m.events);
    }
    super::Handover::Kept
}
