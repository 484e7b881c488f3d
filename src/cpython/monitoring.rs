//! CPython 3.12+: `sys.monitoring` (PEP 669) with callbacks implemented in C, process-wide.
//!
//! Code that is not traced answers `DISABLE`, so the interpreter stops reporting it at all.

use super::{Events, GilCell, Leave};
use crate::clock;
use crate::site::Pause;
use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;

pub const NAME: &str = "sys.monitoring (PEP 669, C callbacks)";

struct Monitor {
    tool: i32,
    disable: *mut ffi::PyObject,
    events: Vec<i32>,
    /// Where a generator resumed: (code, instruction offset) → line.
    resume_lines: FxHashMap<(usize, i32), u32>,
    /// Backward jumps that stay on one line: (code, offset of the jump) → that line.
    loop_lines: FxHashMap<(usize, i32), Option<u32>>,
}

static MONITOR: GilCell<Option<Monitor>> = GilCell::new(None);

pub(super) type Args = *mut *mut ffi::PyObject;

/// A new reference to None, a callback's usual answer.
///
/// # Safety
/// The GIL is held.
#[inline(always)]
pub(super) unsafe fn none() -> *mut ffi::PyObject {
    // SAFETY: GIL held; None is never freed.
    unsafe { ffi::Py_NewRef(ffi::Py_None()) }
}

/// A callback's answer: `DISABLE` for code that is not traced, else None.
///
/// # Safety
/// Inside a callback, with the GIL held.
#[inline(always)]
unsafe fn answer(traced: bool) -> *mut ffi::PyObject {
    // SAFETY: GIL held and no other borrow of MONITOR is live in a callback; `disable` is held by
    // the monitor for as long as it is installed.
    unsafe {
        match MONITOR.get() {
            Some(m) if !traced => ffi::Py_NewRef(m.disable),
            _ => none(),
        }
    }
}

/// The line a generator resumes on, cached per (code, offset).
///
/// # Safety
/// Inside a callback, with the GIL held; `code` is a live code object and `offset` an int.
unsafe fn resume_line(code: *mut ffi::PyObject, offset: *mut ffi::PyObject) -> Option<u32> {
    // SAFETY: as the caller promises; no other borrow of MONITOR is live in a callback.
    unsafe {
        let off = ffi::PyLong_AsLong(offset) as i32;
        let m = MONITOR.get().as_mut()?;
        Some(
            *m.resume_lines
                .entry((code as usize, off))
                .or_insert_with(|| ffi::PyCode_Addr2Line(code as *mut ffi::PyCodeObject, off).max(0) as u32),
        )
    }
}

/// The line number or instruction offset passed to a callback is an int CPython allocated for the
/// call (above 256, outside the small-int cache): the tracer's doing, not the program's.
///
/// # Safety
/// `args` holds a callback's arguments, at least two.
#[inline(always)]
unsafe fn forget_arg<E: Events>(args: Args) {
    // SAFETY: the caller promises the second argument.
    E::not_the_programs(unsafe { *args.add(1) } as *mut std::ffi::c_void);
}

/// # Safety
/// Called by `sys.monitoring` as a LINE callback.
unsafe extern "C" fn on_line<E: Events>(_s: *mut ffi::PyObject, args: Args, _n: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    let t = clock::ticks();
    let _pause = Pause::new();
    // SAFETY: LINE callbacks get (code, line number), with the GIL held.
    unsafe {
        forget_arg::<E>(args);
        let code = *args;
        let line = ffi::PyLong_AsLong(*args.add(1)).max(0) as u32;
        answer(E::line(code as usize, || code, line, t))
    }
}

/// A frame starts or resumes; false when its code is not traced.
///
/// # Safety
/// Inside a PY_START, PY_RESUME or PY_THROW callback, with its `args`.
/// `sys.settrace` reports a line event on every backward jump, even one that stays on its line
/// (`while k: k -= 1`, a comprehension, a generator expression); LINE does not. So a backward jump
/// within one line counts as a line event, and every other jump is disabled where it stands.
unsafe extern "C" fn on_jump<E: Events>(_s: *mut ffi::PyObject, args: Args, _n: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    let t = clock::ticks();
    let _pause = Pause::new();
    // SAFETY: JUMP callbacks get (code, instruction offset, destination offset), with the GIL
    // held; no other borrow of MONITOR is live in a callback.
    unsafe {
        forget_arg::<E>(args);
        E::not_the_programs(*args.add(2) as *mut std::ffi::c_void);
        let code = *args;
        let from = ffi::PyLong_AsLong(*args.add(1)) as i32;
        let to = ffi::PyLong_AsLong(*args.add(2)) as i32;
        if to > from || !E::traced(code) {
            return answer(false);
        }
        let Some(m) = MONITOR.get().as_mut() else {
            return none();
        };
        let line = *m.loop_lines.entry((code as usize, from)).or_insert_with(|| {
            let at = |off| ffi::PyCode_Addr2Line(code as *mut ffi::PyCodeObject, off);
            let line = at(to);
            (line >= 0 && line == at(from)).then_some(line as u32)
        });
        match line {
            Some(line) => answer(E::line(code as usize, || code, line, t)),
            None => answer(false),
        }
    }
}

unsafe fn enter<E: Events>(args: Args, resumed: bool) -> bool {
    let t = clock::ticks();
    let _pause = Pause::new();
    // SAFETY: PY_START/PY_RESUME/PY_THROW callbacks get (code, instruction offset, …), with the GIL held.
    unsafe {
        forget_arg::<E>(args);
        let code = *args;
        E::start(code as usize, code, t, |_| {
            (resumed, if resumed { resume_line(code, *args.add(1)) } else { None })
        })
    }
}

/// A frame returns, yields or unwinds; false when its code is not traced.
///
/// # Safety
/// Inside a PY_RETURN, PY_YIELD or PY_UNWIND callback, with its `args`.
unsafe fn leave<E: Events>(args: Args) -> bool {
    let t = clock::ticks();
    let _pause = Pause::new();
    // SAFETY: PY_RETURN/PY_YIELD/PY_UNWIND callbacks get (code, offset, value), with the GIL held.
    unsafe {
        forget_arg::<E>(args);
        let code = *args;
        E::end(code as usize, || code, t) != Leave::Untraced
    }
}

/// # Safety
/// Called by `sys.monitoring` as a PY_START callback.
unsafe extern "C" fn on_start<E: Events>(
    _s: *mut ffi::PyObject,
    args: Args,
    _n: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by the interpreter as a PY_START callback.
    unsafe { answer(enter::<E>(args, false)) }
}

/// # Safety
/// Called by `sys.monitoring` as a PY_RESUME callback.
unsafe extern "C" fn on_resume<E: Events>(
    _s: *mut ffi::PyObject,
    args: Args,
    _n: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by the interpreter as a PY_RESUME callback.
    unsafe { answer(enter::<E>(args, true)) }
}

/// PY_THROW cannot be disabled: always answer None.
///
/// # Safety
/// Called by `sys.monitoring` as a PY_THROW callback.
unsafe extern "C" fn on_throw<E: Events>(
    _s: *mut ffi::PyObject,
    args: Args,
    _n: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by the interpreter as a PY_THROW callback.
    unsafe {
        enter::<E>(args, true);
        none()
    }
}

/// # Safety
/// Called by `sys.monitoring` as a PY_RETURN or PY_YIELD callback.
unsafe extern "C" fn on_leave<E: Events>(
    _s: *mut ffi::PyObject,
    args: Args,
    _n: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by the interpreter as a PY_RETURN or PY_YIELD callback.
    unsafe { answer(leave::<E>(args)) }
}

/// PY_UNWIND cannot be disabled: always answer None.
///
/// # Safety
/// Called by `sys.monitoring` as a PY_UNWIND callback.
unsafe extern "C" fn on_unwind<E: Events>(
    _s: *mut ffi::PyObject,
    args: Args,
    _n: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: called by the interpreter as a PY_UNWIND callback.
    unsafe {
        leave::<E>(args);
        none()
    }
}

pub(super) type Callback = unsafe extern "C" fn(*mut ffi::PyObject, Args, ffi::Py_ssize_t) -> *mut ffi::PyObject;

pub(super) fn callback(py: Python<'_>, name: &'static std::ffi::CStr, f: Callback) -> PyResult<Py<PyAny>> {
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFast: f },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: std::ptr::null(),
    }));
    // SAFETY: GIL held (a `Python` token); `def` is leaked, so it outlives the function object,
    // and the result is a new reference or null with an error set.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyCFunction_NewEx(def, std::ptr::null_mut(), std::ptr::null_mut()),
        )
        .map(Bound::unbind)
    }
}

/// Takes a free tool id: the ids PEP 669 names for nobody first; the profiler's (cProfile takes
/// it on 3.12+) last; the debugger's and coverage's never.
pub(super) fn take_tool(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, i32)> {
    let mon = py.import("sys")?.getattr("monitoring")?;
    let tool = [4, 3, 2]
        .into_iter()
        .find(|id| {
            mon.call_method1("get_tool", (*id,))
                .map(|t| t.is_none())
                .unwrap_or(false)
        })
        .ok_or_else(|| {
            PyRuntimeError::new_err(
                "sys.monitoring tool ids 2, 3 and 4 were all taken by other tools before the program started",
            )
        })?;
    mon.call_method1("use_tool_id", (tool, "refscope"))?;
    Ok((mon, tool))
}

/// Gives a tool id back, with its callbacks.
pub(super) fn free_tool(py: Python<'_>, tool: i32, events: &[i32]) {
    if let Ok(mon) = py.import("sys").and_then(|s| s.getattr("monitoring")) {
        let _ = mon.call_method1("set_events", (tool, 0));
        for bit in events {
            let _ = mon.call_method1("register_callback", (tool, *bit, py.None()));
        }
        let _ = mon.call_method1("free_tool_id", (tool,));
    }
}

pub fn install<E: Events>(py: Python<'_>) -> PyResult<()> {
    let (mon, tool) = take_tool(py)?;
    let ev = mon.getattr("events")?;
    let e = |n: &str| -> PyResult<i32> { ev.getattr(n)?.extract() };
    let table: [(&str, &'static std::ffi::CStr, Callback); 8] = [
        ("PY_START", c"refscope_start", on_start::<E>),
        ("PY_RESUME", c"refscope_resume", on_resume::<E>),
        ("PY_THROW", c"refscope_throw", on_throw::<E>),
        ("PY_RETURN", c"refscope_return", on_leave::<E>),
        ("PY_YIELD", c"refscope_yield", on_leave::<E>),
        ("PY_UNWIND", c"refscope_unwind", on_unwind::<E>),
        ("LINE", c"refscope_line", on_line::<E>),
        ("JUMP", c"refscope_jump", on_jump::<E>),
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
    unsafe {
        *MONITOR.get() = Some(Monitor {
            tool,
            disable,
            events,
            resume_lines: FxHashMap::default(),
            loop_lines: FxHashMap::default(),
        })
    };
    mon.call_method1("set_events", (tool, mask))?;
    Ok(())
}

pub fn uninstall(py: Python<'_>) -> super::Handover {
    // SAFETY: GIL held (a `Python` token), outside any callback.
    let Some(m) = (unsafe { MONITOR.get() }).take() else {
        return super::Handover::Kept;
    };
    free_tool(py, m.tool, &m.events);
    super::Handover::Kept
}
