//! The one place that knows how CPython versions differ.
//!
//! 3.9–3.11 deliver trace events through a C trace function (`PyEval_SetTrace`), installed per
//! thread; 3.12+ through `sys.monitoring` (PEP 669) with C callbacks, process-wide. Both report
//! to an `Events` implementation given at install time; this layer knows nothing above it.

pub mod calls;
pub mod frees;
mod gil;
mod layout;
pub use layout::kept_for_reuse;
#[cfg(Py_3_12)]
mod monitoring;
#[cfg(Py_3_12)]
mod monitoring_calls;
#[cfg(not(Py_3_12))]
mod setprofile;
#[cfg(not(Py_3_12))]
mod settrace;

#[cfg(Py_3_12)]
use monitoring as backend;
#[cfg(Py_3_12)]
use monitoring_calls as calls_backend;
#[cfg(not(Py_3_12))]
use setprofile as calls_backend;
#[cfg(not(Py_3_12))]
use settrace as backend;

pub use calls::{c_names, code_info, CCallable, Calls};
pub use gil::GilCell;

use pyo3::ffi;
use pyo3::prelude::*;

/// What a tracing backend reports, one call per interpreter event, always with the GIL held and
/// never re-entered on one thread. `key` identifies a running frame; `t` is the clock at entry.
/// Static dispatch: the backends' C callbacks are generic over the implementation.
pub trait Events: 'static {
    /// A frame of `code` starts, or resumes. `resume` is asked only for traced code, told whether
    /// the code is a generator or coroutine, and answers (resumed, the line it resumes on).
    /// False: `code` is not traced.
    fn start(key: usize, code: *mut ffi::PyObject, t: u64, resume: impl FnOnce(bool) -> (bool, Option<u32>)) -> bool;
    /// A line starts in frame `key`; `code` is asked only for a frame not seen starting.
    /// False: the frame is not traced.
    fn line(key: usize, code: impl FnOnce() -> *mut ffi::PyObject, line: u32, t: u64) -> bool;
    /// Whether `code` is traced (registering it on first sight).
    #[cfg_attr(not(Py_3_12), allow(dead_code))]
    fn traced(code: *mut ffi::PyObject) -> bool;
    /// Frame `key` returns, yields or unwinds; `code` is asked only when `key` is not the
    /// innermost traced frame.
    fn end(key: usize, code: impl FnOnce() -> *mut ffi::PyObject, t: u64) -> Leave;
    /// CPython allocated `block` only because a tracer is set: it is not the program's
    /// (3.11's frame objects, 3.12+'s int arguments; nothing before 3.11).
    #[cfg_attr(not(Py_3_11), allow(dead_code))]
    fn not_the_programs(block: *mut std::ffi::c_void);
}

/// What `Events::end` found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    Untraced,
    /// `generator`: the frame that ended runs a generator or coroutine.
    Traced {
        generator: bool,
    },
}

/// CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR.
pub const CO_GENERATOR_LIKE: i64 = (ffi::CO_GENERATOR | ffi::CO_COROUTINE | ffi::CO_ASYNC_GENERATOR) as i64;

/// The attribute that names a code object with its class (`co_qualname`, 3.11+); before 3.11
/// only `co_name` exists.
pub const QUALNAME: &str = if cfg!(Py_3_11) { "co_qualname" } else { "co_name" };
pub const QUALNAME_C: &std::ffi::CStr = if cfg!(Py_3_11) { c"co_qualname" } else { c"co_name" };

/// What the report says traced the program.
pub fn tracer_name() -> &'static str {
    backend::NAME
}

/// Starts delivering events to `E` on every thread.
pub fn install<E: Events>(py: Python<'_>) -> PyResult<()> {
    backend::install::<E>(py)
}

/// What `uninstall` found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Handover {
    /// refscope's hook was in place to the end.
    Kept,
    /// Another tool had set its own trace hook on this thread (3.9–3.11 have one per thread):
    /// events stopped reaching refscope at that point.
    Replaced,
}

/// What the report says profiled the program (`refscope profile`).
pub fn profiler_name() -> &'static str {
    calls_backend::NAME
}

/// Starts delivering calls and returns to `C` on every thread (`refscope profile`).
pub fn install_calls<C: Calls>(py: Python<'_>) -> PyResult<()> {
    calls_backend::install::<C>(py)
}

/// Stops delivering calls; safe to call twice.
pub fn uninstall_calls(py: Python<'_>) -> Handover {
    calls_backend::uninstall(py)
}

/// Stops delivering events, and leaves the program's own tracers running; safe to call twice.
pub fn uninstall(py: Python<'_>) -> Handover {
    backend::uninstall(py)
}

/// The code object of the innermost running Python frame, if any.
pub fn current_code(py: Python<'_>) -> Option<Py<PyAny>> {
    let sys = py.import("sys").ok()?;
    let frame = sys.call_method1("_getframe", (0,)).ok()?;
    frame.getattr("f_code").ok().map(|c| c.unbind())
}

/// Immortal objects (3.12+) never die and their counts mean nothing; before 3.12 there are none.
/// As `_Py_IsImmortal` (`Include/object.h`, 3.12–3.13): the count's low 32 bits read negative.
///
/// # Safety
/// `o` is a live object.
#[inline]
pub unsafe fn is_immortal(o: *mut ffi::PyObject) -> bool {
    // SAFETY: `o` is live, so its header can be read.
    cfg!(Py_3_12) && unsafe { (ffi::Py_REFCNT(o) as i32) < 0 }
}

/// Whether an exact str is interned (`PyASCIIObject.state.interned`).
///
/// # Safety
/// `o` is a live exact str.
pub unsafe fn is_interned(o: *mut ffi::PyObject) -> bool {
    // SAFETY: every str starts with a `PyASCIIObject`; `interned()` reads the two low bits of its
    // state word, where GCC puts that bitfield on little-endian Linux.
    unsafe { (*o.cast::<ffi::PyASCIIObject>()).interned() != ffi::SSTATE_NOT_INTERNED }
}

/// Objects CPython never frees and whose count means nothing: immortal ones (3.12+), and on 3.11
/// the statically allocated ones (small ints, singletons), whose count starts at 999,999,999.
///
/// # Safety
/// `o` is a live object.
pub unsafe fn never_freed(o: *mut ffi::PyObject) -> bool {
    /// Far above any real count, far below 999,999,999 (`_PyObject_IMMORTAL_INIT`,
    /// `Include/internal/pycore_object.h`, 3.11).
    const STATIC: isize = 900_000_000;
    // SAFETY: `o` is live, so its header can be read.
    unsafe { is_immortal(o) || (cfg!(all(Py_3_11, not(Py_3_12))) && ffi::Py_REFCNT(o) >= STATIC) }
}

/// `sys.getsizeof` of an exact int, from its digit count (the layout changed in 3.12).
///
/// # Safety
/// `o` is a live exact int.
#[inline]
pub unsafe fn int_sizeof(o: *mut ffi::PyObject) -> u64 {
    use layout::{Digit, PyLongObject};
    // SAFETY: `o` is a live int.
    let digits = unsafe { layout::digit_count(o) };
    #[cfg(Py_3_11)]
    let digits = digits.max(1);
    (std::mem::offset_of!(PyLongObject, ob_digit) + digits * std::mem::size_of::<Digit>()) as u64
}

/// What `sys.getsizeof` adds to `__sizeof__` for instances of `tp`: the GC header of container
/// types and, on 3.11+, the pre-header of managed dicts (3.12+: and weak references).
///
/// # Safety
/// `tp` is a live type.
pub unsafe fn type_preheader(tp: *mut ffi::PyTypeObject) -> u64 {
    // SAFETY: `tp` is a live type.
    let flags = unsafe { ffi::PyType_GetFlags(tp) };
    let gc = if flags & ffi::Py_TPFLAGS_HAVE_GC != 0 {
        layout::GC_HEAD
    } else {
        0
    };
    #[cfg(Py_3_11)]
    let pre = if flags & layout::TPFLAGS_PREHEADER != 0 {
        layout::PREHEADER
    } else {
        0
    };
    #[cfg(not(Py_3_11))]
    let pre = 0;
    (gc + pre) as u64
}

/// 3.13: the `__dict__` an instance with inline values got when someone read it. Its
/// `tp_traverse` reports the inline values then, not the dict, so the dict is read from the
/// managed-dict pointer. None before 3.13 (there the traverse reports the dict itself) and when
/// the instance has no dict object.
///
/// # Safety
/// `o` is a live object.
#[inline]
pub unsafe fn materialized_dict(o: *mut ffi::PyObject) -> Option<*mut ffi::PyObject> {
    #[cfg(Py_3_13)]
    {
        // SAFETY: `o` is live, and so is its type.
        let flags = unsafe { ffi::PyType_GetFlags(ffi::Py_TYPE(o)) };
        if flags & layout::TPFLAGS_INLINE_VALUES == 0 || flags & ffi::Py_TPFLAGS_MANAGED_DICT == 0 {
            return None;
        }
        // SAFETY: the type has a managed dict, so `o` carries the pointer: a dict or null.
        let d = unsafe { *layout::managed_dict_pointer(o) };
        (!d.is_null()).then_some(d)
    }
    #[cfg(not(Py_3_13))]
    {
        let _ = o;
        None
    }
}

/// Whether a dict is split: an instance `__dict__` whose keys belong to the class's shared keys
/// (only those have `ma_values`).
///
/// # Safety
/// `o` is a live dict.
pub unsafe fn dict_is_split(o: *mut ffi::PyObject) -> bool {
    // SAFETY: `o` is a live dict, so a `PyDictObject`.
    unsafe { !(*o.cast::<ffi::PyDictObject>()).ma_values.is_null() }
}

/// A running frame's local variables as a dict, without leaving anything behind: on 3.13 copied
/// from the live `f_locals` view; on 3.12 built with `PyFrame_GetVar`; before 3.12 only `f_locals`
/// exists, which stores a snapshot in the frame (it holds the locals until the frame ends).
pub fn frame_locals<'py>(frame: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    #[cfg(all(Py_3_12, not(Py_3_13)))]
    {
        let py = frame.py();
        let code = frame.getattr("f_code").ok()?;
        let out = pyo3::types::PyDict::new(py);
        for attr in ["co_varnames", "co_cellvars", "co_freevars"] {
            for name in code.getattr(attr).ok()?.try_iter().ok()?.flatten() {
                // SAFETY: `frame` is a frame object and `name` a str, both held; the result is a
                // new reference, or null with an error set (an unbound name), which this takes.
                let v = unsafe {
                    Bound::from_owned_ptr_or_err(py, ffi::PyFrame_GetVar(frame.as_ptr().cast(), name.as_ptr()))
                };
                if let Ok(v) = v {
                    let _ = out.set_item(name, v);
                }
            }
        }
        Some(out.into_any())
    }
    #[cfg(Py_3_13)]
    {
        // A dict copied from the live view: the view's own referents are just the frame.
        let locals = frame.getattr("f_locals").ok()?;
        pyo3::types::PyDict::from_sequence(&locals.call_method0("items").ok()?)
            .ok()
            .map(|d| d.into_any())
    }
    #[cfg(not(Py_3_12))]
    {
        frame.getattr("f_locals").ok()
    }
}

/// Before 3.13, calling a Python trace function makes CPython copy the frame's locals into a dict
/// the frame keeps (`PyFrame_FastToLocalsWithError`): references that exist only because a tracer
/// looks. 3.13's `f_locals` is a view and copies nothing.
pub const TRACE_KEEPS_LOCALS_COPY: bool = !cfg!(Py_3_13);

/// `sys.getsizeof` of a compact ASCII str (the usual identifier or key) without calling
/// `__sizeof__`: the header (`ascii_base`, `sys.getsizeof("") - 1`) plus its bytes and the NUL.
/// None for other strings, and on 3.9–3.11 for one that carries a cached `wchar_t` copy.
///
/// # Safety
/// `o` is a live exact str.
#[inline]
pub unsafe fn ascii_sizeof(o: *mut ffi::PyObject, ascii_base: u64) -> Option<u64> {
    // SAFETY: `o` is a live exact str, so it starts with a `PyASCIIObject`.
    unsafe {
        if ffi::PyUnicode_IS_COMPACT_ASCII(o) == 0 {
            return None;
        }
        #[cfg(not(Py_3_12))]
        if !(*o.cast::<ffi::PyASCIIObject>()).wstr.is_null() {
            return None;
        }
        Some(ascii_base + ffi::PyUnicode_GET_LENGTH(o) as u64 + 1)
    }
}

/// A mark refscope keeps on each code object it has seen (the code object's "extra" slot, PEP 523),
/// so a verdict dies with its code object: an address CPython reuses for a new code object
/// starts unmarked. One slot serves the whole process; each measuring session has its own
/// generation, so marks a session before it left (`refscope.trace()` runs many in one process)
/// read as unmarked.
#[derive(Clone, Copy)]
pub struct CodeMark {
    index: ffi::Py_ssize_t,
    generation: usize,
}

/// The process's slot, once reserved.
static MARK_SLOT: std::sync::OnceLock<ffi::Py_ssize_t> = std::sync::OnceLock::new();
static MARK_GENERATION: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

impl CodeMark {
    /// A new session's mark (the slot is reserved on first use); None when every one of
    /// CPython's 255 slots is taken.
    pub fn reserve(_py: Python<'_>) -> Option<CodeMark> {
        /// Marks are plain numbers: nothing to free with the code object.
        unsafe extern "C" fn keep(_: *mut std::ffi::c_void) {}
        // SAFETY: the GIL is held (a `Python` token).
        let index = *MARK_SLOT.get_or_init(|| unsafe { ffi::PyUnstable_Eval_RequestCodeExtraIndex(keep) });
        let generation = MARK_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (index >= 0).then_some(CodeMark { index, generation })
    }

    /// This session's number: state a thread kept from an earlier session is stale.
    pub fn generation(self) -> usize {
        self.generation
    }

    /// The mark on `code`: 0 when it has none of this session's.
    ///
    /// # Safety
    /// GIL held; `code` is a live code object.
    #[inline(always)]
    pub unsafe fn get(self, code: *mut ffi::PyObject) -> usize {
        let mut v: *mut std::ffi::c_void = std::ptr::null_mut();
        // SAFETY: as the caller promises; the index was reserved. Without a mark `v` stays null.
        if unsafe { ffi::PyUnstable_Code_GetExtra(code, self.index, &mut v) } != 0 {
            // SAFETY: GIL held; the call set an error.
            unsafe { ffi::PyErr_Clear() };
            return 0;
        }
        let v = v as usize;
        if v >> 32 == self.generation {
            v & 0xffff_ffff
        } else {
            0
        }
    }

    /// Marks `code` with `v` (not 0, below 2^32); false when CPython could not store it.
    ///
    /// # Safety
    /// GIL held; `code` is a live code object.
    pub unsafe fn set(self, code: *mut ffi::PyObject, v: usize) -> bool {
        let v = (self.generation << 32) | v;
        // SAFETY: as the caller promises; the index was reserved.
        let ok = unsafe { ffi::PyUnstable_Code_SetExtra(code, self.index, v as *mut std::ffi::c_void) } == 0;
        if !ok {
            // SAFETY: GIL held; the call set an error.
            unsafe { ffi::PyErr_Clear() };
        }
        ok
    }
}

/// `-P` or PYTHONSAFEPATH (3.11+): python puts neither the script's nor the current directory
/// on `sys.path`.
pub fn safe_path(py: Python<'_>) -> bool {
    py.import("sys")
        .and_then(|s| s.getattr("flags")?.getattr("safe_path")?.extract::<bool>())
        .unwrap_or(false)
}
