//! The exact moment a watched object is freed, whatever its type.
//!
//! 3.13: CPython's reference tracer (`PyRefTracer_SetTracer`) reports every destruction.
//! 3.9–3.12: the deallocator of each watched object's type is wrapped: a static type's
//! `tp_dealloc` (objects recycled through free lists never reach the allocator, so allocator
//! hooks would miss them), a class's `tp_free` (its `tp_dealloc` is CPython's shared
//! `subtype_dealloc`, which looks itself up along the bases and must stay untouched). Each wrapped
//! slot gets its own trampoline from a fixed pool, so a deallocator that calls its base's
//! never loops back into itself.

use super::GilCell;
use pyo3::ffi;
use rustc_hash::FxHashSet;

struct Watch {
    addrs: FxHashSet<usize>,
    freed: Vec<usize>,
}

static WATCH: GilCell<Option<Watch>> = GilCell::new(None);

#[inline(always)]
fn seen(p: *mut std::ffi::c_void) {
    // SAFETY: deallocation runs with the GIL held.
    if let Some(w) = unsafe { WATCH.get() }.as_mut() {
        if w.addrs.remove(&(p as usize)) {
            w.freed.push(p as usize);
        }
    }
}

/// Starts watching (nothing is watched until `watch`).
pub fn start() {
    // SAFETY: callers hold the GIL; nothing else borrows WATCH outside a deallocation.
    unsafe {
        *WATCH.get() = Some(Watch {
            addrs: FxHashSet::default(),
            freed: Vec::new(),
        })
    };
    backend::start();
}

/// Stops watching; what was patched stays patched and does nothing more.
pub fn stop() {
    backend::stop();
    // SAFETY: callers hold the GIL; nothing else borrows WATCH outside a deallocation.
    unsafe { *WATCH.get() = None };
}

/// Watches `o` until it is freed; false when its type cannot be watched.
///
/// # Safety
/// GIL held, `o` live.
pub unsafe fn watch(o: *mut ffi::PyObject) -> bool {
    // SAFETY: the caller holds the GIL and `o` is live; growing the set frees no Python object,
    // so no deallocation borrows WATCH meanwhile.
    unsafe {
        if !backend::can_watch(o) {
            return false;
        }
        if let Some(w) = WATCH.get().as_mut() {
            w.addrs.insert(o as usize);
        }
    }
    true
}

/// Addresses of watched objects freed since the last call, in order.
pub fn take_freed() -> Vec<usize> {
    // SAFETY: callers hold the GIL; nothing else borrows WATCH outside a deallocation.
    unsafe { WATCH.get() }
        .as_mut()
        .map(|w| std::mem::take(&mut w.freed))
        .unwrap_or_default()
}

#[cfg(Py_3_13)]
mod backend {
    use pyo3::ffi;
    use std::ffi::{c_int, c_void};

    const DESTROY: c_int = 1;
    type RefTracer = unsafe extern "C" fn(*mut ffi::PyObject, c_int, *mut c_void) -> c_int;
    extern "C" {
        fn PyRefTracer_SetTracer(tracer: Option<RefTracer>, data: *mut c_void) -> c_int;
    }

    /// # Safety
    /// Called by CPython as the reference tracer, with the GIL held.
    unsafe extern "C" fn on_ref(o: *mut ffi::PyObject, event: c_int, _data: *mut c_void) -> c_int {
        if event == DESTROY {
            super::seen(o as *mut c_void);
        }
        0
    }

    pub fn start() {
        // SAFETY: callers hold the GIL; `on_ref` lives for the whole process.
        unsafe { PyRefTracer_SetTracer(Some(on_ref), std::ptr::null_mut()) };
    }

    pub fn stop() {
        // SAFETY: callers hold the GIL.
        unsafe { PyRefTracer_SetTracer(None, std::ptr::null_mut()) };
    }

    /// # Safety
    /// As the other backend's (GIL held, `o` live); this one reads nothing.
    pub unsafe fn can_watch(_o: *mut ffi::PyObject) -> bool {
        true
    }
}

#[cfg(not(Py_3_13))]
mod backend {
    use super::GilCell;
    use pyo3::ffi;
    use rustc_hash::FxHashMap;
    use std::ffi::c_void;

    type Slot = unsafe extern "C" fn(*mut c_void);
    const POOL: usize = 64;

    static ORIGINALS: GilCell<[Option<Slot>; POOL]> = GilCell::new([None; POOL]);
    static TYPES: GilCell<Option<FxHashMap<usize, usize>>> = GilCell::new(None);

    /// Stands in for the `K`th wrapped slot: notes the object, then calls the slot it replaced.
    ///
    /// # Safety
    /// Called by CPython as that `tp_dealloc` or `tp_free`, with the GIL held.
    unsafe extern "C" fn trampoline<const K: usize>(p: *mut c_void) {
        super::seen(p);
        // SAFETY: GIL held; slot K was filled before this trampoline was installed and never
        // changes, and the borrow ends before the original runs.
        let original = unsafe { ORIGINALS.get() }[K];
        if let Some(f) = original {
            // SAFETY: `f` is the slot CPython would have called with `p`.
            unsafe { f(p) }
        }
    }

    macro_rules! pool {
        ($($k:literal)*) => { [$(trampoline::<$k> as Slot),*] };
    }
    static TRAMPOLINES: [Slot; POOL] = pool!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28
        29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);

    pub fn start() {}

    pub fn stop() {}

    /// # Safety
    /// GIL held, `o` live.
    pub unsafe fn can_watch(o: *mut ffi::PyObject) -> bool {
        // SAFETY: GIL held, so nothing else borrows TYPES or ORIGINALS and the type's slots are
        // ours to swap. `o` keeps its type alive, and a slot is patched once per type (TYPES),
        // so a trampoline never wraps itself. `destructor` and `Slot` take one pointer and
        // return nothing: same ABI.
        unsafe {
            let tp = ffi::Py_TYPE(o);
            // Type → pool index of its wrapped slot.
            let types = TYPES.get().get_or_insert_with(FxHashMap::default);
            if types.contains_key(&(tp as usize)) {
                return true;
            }
            let k = types.len();
            let originals = ORIGINALS.get();
            if k >= POOL {
                return false;
            }
            let heap = ffi::PyType_GetFlags(tp) & ffi::Py_TPFLAGS_HEAPTYPE != 0;
            if heap {
                let Some(free) = (*tp).tp_free else { return false };
                originals[k] = Some(free);
                (*tp).tp_free = Some(TRAMPOLINES[k]);
            } else {
                let Some(dealloc) = (*tp).tp_dealloc else { return false };
                originals[k] = Some(std::mem::transmute::<ffi::destructor, Slot>(dealloc));
                (*tp).tp_dealloc = Some(std::mem::transmute::<Slot, ffi::destructor>(TRAMPOLINES[k]));
            }
            types.insert(tp as usize, k);
            true
        }
    }
}
