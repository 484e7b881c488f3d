//! Cyclic GC runs, seen through `gc.callbacks`: generation, what was collected, how long it took
//! and the line of your code that was running when the collection started.

use crate::capture::Writer;
use crate::clock;
use crate::cpython::GilCell;
use crate::profiler::PROFILER;
use crate::record::{Record, NO_SLOT};
use crate::site::{self, Pause};
use crate::tracer::TRACER;
use pyo3::ffi;
use pyo3::prelude::*;
use std::sync::atomic::Ordering::Relaxed;

/// Runs listed one by one in the report; beyond that only the totals grow.
const MAX_LOGGED: usize = 10_000;

struct Gc {
    callback: Py<PyAny>,
    /// (start ticks, generation, slot) of the collection under way.
    running: Option<(u64, u8, u32)>,
    /// Runs that ended while refscope's own code held the capture log.
    pending: Vec<Record>,
    logged: usize,
}

static GC: GilCell<Option<Gc>> = GilCell::new(None);

/// A non-negative int of the callback's `info` dict, or 0.
///
/// # Safety
/// GIL held; `info` is a live dict.
unsafe fn item(info: *mut ffi::PyObject, key: &std::ffi::CStr) -> u64 {
    // SAFETY: as the caller promises; the item is borrowed from the dict, which holds it.
    unsafe {
        let v = ffi::PyDict_GetItemString(info, key.as_ptr());
        if v.is_null() {
            return 0;
        }
        let n = ffi::PyLong_AsLongLong(v);
        if n < 0 {
            ffi::PyErr_Clear();
            return 0;
        }
        n as u64
    }
}

/// A new reference to None, the callback's answer.
///
/// # Safety
/// The GIL is held.
unsafe fn none() -> *mut ffi::PyObject {
    // SAFETY: GIL held; None is never freed.
    unsafe {
        let n = ffi::Py_None();
        ffi::Py_INCREF(n);
        n
    }
}

/// The `gc.callbacks` entry: called with (phase, info) at the start and end of each collection.
///
/// # Safety
/// Called by the interpreter as a METH_FASTCALL function: GIL held, `args` holding `n`
/// arguments.
unsafe extern "C" fn on_gc(
    _s: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    n: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    let t = clock::ticks();
    let pause = Pause::new();
    // SAFETY: GIL held; `args` has `n` items, checked before the two read. Nothing here runs
    // Python code or allocates Python objects, so no other callback borrows GC, the memory state
    // or TRACER meanwhile; TRACER is borrowed only outside refscope's own callbacks.
    unsafe {
        let Some(g) = GC.get().as_mut() else {
            return none();
        };
        let Some(m) = super::state() else {
            return none();
        };
        if n < 2 || ffi::PyDict_Check(*args.add(1)) == 0 {
            return none();
        }
        let phase = ffi::PyUnicode_AsUTF8(*args);
        let info = *args.add(1);
        let generation = item(info, c"generation").min(2) as u8;
        if !phase.is_null() && std::ffi::CStr::from_ptr(phase).to_bytes() == b"start" {
            let slot = site::line();
            g.running = Some((t, generation, if slot == NO_SLOT { m.outside } else { slot }));
        } else if let Some((t0, generation, slot)) = g.running.take() {
            let (collected, uncollectable) = (item(info, c"collected"), item(info, c"uncollectable"));
            let ticks = t.wrapping_sub(t0);
            let h = &m.header().mem;
            h.gc_runs[generation as usize].fetch_add(1, Relaxed);
            h.gc_collected.fetch_add(collected, Relaxed);
            h.gc_uncollectable.fetch_add(uncollectable, Relaxed);
            h.gc_ticks.fetch_add(ticks, Relaxed);
            if g.logged < MAX_LOGGED {
                g.logged += 1;
                g.pending.push(Record::Gc {
                    generation,
                    collected,
                    uncollectable,
                    start_ticks: t0,
                    ticks,
                    slot,
                });
                // Outside refscope's own callbacks nothing else holds the tracer: log now.
                if !pause.nested() {
                    let out = match (TRACER.get().as_mut(), PROFILER.get().as_mut()) {
                        (Some(tr), _) => Some(tr.writer_mut()),
                        (None, Some(p)) => Some(p.writer_mut()),
                        _ => None,
                    };
                    if let Some(out) = out {
                        for r in g.pending.drain(..) {
                            out.log(&r);
                        }
                    }
                }
            }
        }
        none()
    }
}

pub fn install(py: Python<'_>) {
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: c"refscope_gc_callback".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFast: on_gc },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: std::ptr::null(),
    }));
    // SAFETY: GIL held (a `Python` token); `def` is leaked, so it outlives the function object,
    // and the result is a new reference or null with an error set.
    let Ok(callback) = (unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyCFunction_NewEx(def, std::ptr::null_mut(), std::ptr::null_mut()),
        )
    }) else {
        return;
    };
    let appended = py
        .import("gc")
        .and_then(|gc| gc.getattr("callbacks"))
        .and_then(|cbs| cbs.call_method1("append", (&callback,)));
    if appended.is_ok() {
        // SAFETY: GIL held; the callback reads GC only once it is set, and no collection runs
        // during this store.
        unsafe {
            *GC.get() = Some(Gc {
                callback: callback.unbind(),
                running: None,
                pending: Vec::new(),
                logged: 0,
            })
        };
    }
}

pub fn uninstall(py: Python<'_>) {
    // SAFETY: GIL held (a `Python` token); the borrow ends before any Python code runs (removing
    // the callback may collect, and the callback borrows GC too).
    let Some(callback) = (unsafe { GC.get() }).as_ref().map(|g| g.callback.clone_ref(py)) else {
        return;
    };
    let _ = py
        .import("gc")
        .and_then(|gc| gc.getattr("callbacks"))
        .and_then(|cbs| cbs.call_method1("remove", (callback,)));
}

/// Logs the runs still buffered.
pub fn flush(out: &mut Writer) {
    // SAFETY: callers hold the GIL and run refscope's own work, paused: logging allocates no
    // Python object, so no collection runs the callback meanwhile.
    if let Some(g) = unsafe { GC.get() }.as_mut() {
        for r in g.pending.drain(..) {
            out.log(&r);
        }
    }
}

/// Says so in the capture when the program took refscope's callback out of `gc.callbacks`
/// (`gc.callbacks.clear()`): collections after that were not counted.
pub fn check_watched(py: Python<'_>, out: &mut Writer) {
    // SAFETY: the caller holds the GIL and runs refscope's own work, paused; the borrow ends here.
    let Some(g) = (unsafe { GC.get() }).as_ref() else {
        return;
    };
    let watched = py
        .import("gc")
        .and_then(|gc| gc.getattr("callbacks"))
        .and_then(|cbs| cbs.contains(g.callback.bind(py)))
        .unwrap_or(true);
    if !watched {
        out.log(&Record::Lost {
            slot: crate::record::NO_SLOT,
            reason: "the program took refscope's entry out of gc.callbacks, so garbage collections after that were not counted".into(),
        });
    }
}

/// In a forked child: runs of the parent still buffered are not the child's.
pub fn forked() {
    // SAFETY: the fork handler holds the GIL and runs no Python code while this borrow lives.
    if let Some(g) = unsafe { GC.get() }.as_mut() {
        g.pending.clear();
        g.running = None;
        g.logged = 0;
    }
}
