//! The one place that knows how CPython versions differ.
//!
//! 3.9–3.11 deliver trace events through a C trace function (`PyEval_SetTrace`), installed per
//! thread; 3.12+ through `sys.monitoring` (PEP 669) with C callbacks, process-wide. Both report
//! to an `Events` implementation given at install time; this layer knows nothing above it.

pub mod frees;
mod gil;
#[cfg(Py_3_12)]
mod monitoring;
#[cfg(not(Py_3_12))]
mod settrace;

#[cfg(Py_3_12)]
use monitoring as backend;
#[cfg(not(Py_3_12))]
use settrace as backend;

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

/// Whether an exact str is interned: `PyASCIIObject.state.interned`, the two low bits of the word
/// at offset 32 on 3.9 to 3.13.
///
/// # Safety
/// `o` is a live exact str.
pub unsafe fn is_interned(o: *mut pyo3::ffi::PyObject) -> bool {
    const STATE: usize = 32;
    unsafe { *((o as *const u8).add(STATE) as *const u32) & 3 != 0 }
}

/// Objects CPython never frees and whose count means nothing: immortal ones (3.12+), and on 3.11
/// the statically allocated ones (small ints, singletons), whose count starts at 999,999,999.
///
/// # Safety
/// `o` is a live object.
pub unsafe fn never_freed(o: *mut pyo3::ffi::PyObject) -> bool {
    #[cfg(all(Py_3_11, not(Py_3_12)))]
    const STATIC: isize = 900_000_000;
    #[cfg(any(not(Py_3_11), Py_3_12))]
    const STATIC: isize = isize::MAX;
    unsafe { is_immortal(o) || pyo3::ffi::Py_REFCNT(o) >= STATIC }
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

/// 3.13: the `__dict__` an instance with inline values got when someone read it. Its
/// `tp_traverse` reports the inline values then, not the dict, so the dict is read from the
/// managed-dict pointer (three words before the object). None before 3.13 (there the traverse
/// reports the dict itself) and when the instance has no dict object.
///
/// # Safety
/// `o` is a live object.
#[inline]
pub unsafe fn materialized_dict(o: *mut pyo3::ffi::PyObject) -> Option<*mut pyo3::ffi::PyObject> {
    #[cfg(Py_3_13)]
    unsafe {
        const INLINE_VALUES: std::ffi::c_ulong = 1 << 2;
        const MANAGED_DICT: std::ffi::c_ulong = 1 << 4;
        let flags = pyo3::ffi::PyType_GetFlags(pyo3::ffi::Py_TYPE(o));
        if flags & INLINE_VALUES == 0 || flags & MANAGED_DICT == 0 {
            return None;
        }
        let d = *((o as *const *mut pyo3::ffi::PyObject).sub(3));
        (!d.is_null()).then_some(d)
    }
    #[cfg(not(Py_3_13))]
    {
        let _ = o;
        None
    }
}

/// Whether a dict is split: an instance `__dict__` whose keys belong to the class's shared keys.
/// `ma_values` sits at the same offset in 3.9 to 3.13.
///
/// # Safety
/// `o` is a live dict.
pub unsafe fn dict_is_split(o: *mut pyo3::ffi::PyObject) -> bool {
    const MA_VALUES: usize = 40;
    unsafe { !(*((o as *const u8).add(MA_VALUES) as *const *mut std::ffi::c_void)).is_null() }
}

#[cfg(all(Py_3_12, not(Py_3_13)))]
extern "C" {
    fn PyFrame_GetVar(frame: *mut pyo3::ffi::PyFrameObject, name: *mut pyo3::ffi::PyObject)
        -> *mut pyo3::ffi::PyObject;
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
                let v = unsafe { PyFrame_GetVar(frame.as_ptr() as *mut pyo3::ffi::PyFrameObject, name.as_ptr()) };
                if v.is_null() {
                    unsafe { pyo3::ffi::PyErr_Clear() };
                    continue;
                }
                let v = unsafe { Bound::from_owned_ptr(py, v) };
                let _ = out.set_item(name, v);
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
pub unsafe fn ascii_sizeof(o: *mut pyo3::ffi::PyObject, ascii_base: u64) -> Option<u64> {
    use pyo3::ffi;
    unsafe {
        if ffi::PyUnicode_IS_COMPACT_ASCII(o) == 0 {
            return None;
        }
        #[cfg(not(Py_3_12))]
        {
            const WSTR: usize = 40; // PyASCIIObject.wstr, 3.9 to 3.11
            if !(*((o as *const u8).add(WSTR) as *const *mut std::ffi::c_void)).is_null() {
                return None;
            }
        }
        Some(ascii_base + ffi::PyUnicode_GET_LENGTH(o) as u64 + 1)
    }
}
