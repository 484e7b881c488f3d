//! The parts of CPython's object layout that pyo3-ffi does not define, each as the header of the
//! matching version has it, for the 64-bit builds with a GIL that refscope supports. Everything
//! (`PyObject`, `PyVarObject`, `PyASCIIObject`, `PyDictObject`, `PyListObject`, most type flags,
//! code flags) comes from pyo3-ffi.

use pyo3::ffi;
use std::mem::size_of;
#[cfg(not(Py_3_12))]
use std::os::raw::{c_char, c_int};

/// `sizeof(PyGC_Head)`: two `uintptr_t` in front of every object of a GC type
/// (`Include/internal/pycore_gc.h`, 3.9–3.13).
pub const GC_HEAD: usize = 2 * size_of::<usize>();

/// The type flags whose instances carry a pre-header in front of the GC head: a managed dict
/// (3.11) or managed weak references (3.12+: `Py_TPFLAGS_PREHEADER`). As `_PyType_PreHeaderSize`
/// has them (`Include/internal/pycore_object.h`, 3.11–3.13); there is no pre-header before 3.11.
#[cfg(Py_3_12)]
pub const TPFLAGS_PREHEADER: std::ffi::c_ulong = ffi::Py_TPFLAGS_MANAGED_WEAKREF | ffi::Py_TPFLAGS_MANAGED_DICT;
#[cfg(all(Py_3_11, not(Py_3_12)))]
pub const TPFLAGS_PREHEADER: std::ffi::c_ulong = ffi::Py_TPFLAGS_MANAGED_DICT;

/// Bytes of that pre-header: two pointers (`_PyType_PreHeaderSize`, 3.11–3.13).
#[cfg(Py_3_11)]
pub const PREHEADER: usize = 2 * size_of::<*mut ffi::PyObject>();

/// `Py_TPFLAGS_INLINE_VALUES`: instances keep their attributes inline, not in a dict
/// (`Include/object.h`, 3.13).
#[cfg(Py_3_13)]
pub const TPFLAGS_INLINE_VALUES: std::ffi::c_ulong = 1 << 2;

/// `_PyObject_ManagedDictPointer`: where an instance of a `Py_TPFLAGS_MANAGED_DICT` type keeps
/// its dict, `MANAGED_DICT_OFFSET` (three pointers) before the object
/// (`Include/internal/pycore_object.h`, 3.13).
///
/// # Safety
/// `o` is a live object whose type has `Py_TPFLAGS_MANAGED_DICT`.
#[cfg(Py_3_13)]
#[inline]
pub unsafe fn managed_dict_pointer(o: *mut ffi::PyObject) -> *mut *mut ffi::PyObject {
    // SAFETY: the pre-header of such an object is allocated with it, in front of it.
    unsafe { o.cast::<*mut ffi::PyObject>().sub(3) }
}

/// `digit`: 30-bit digits, the default on 64-bit builds (`PYLONG_BITS_IN_DIGIT`,
/// `Include/longintrepr.h` 3.9–3.10, `Include/cpython/longintrepr.h` 3.11–3.13).
pub type Digit = u32;

/// `struct _longobject` (`Include/longintrepr.h` 3.9–3.10, `Include/cpython/longintrepr.h`
/// 3.11): `PyObject_VAR_HEAD`, whose `ob_size` is the signed digit count, then the digits.
#[cfg(not(Py_3_12))]
#[repr(C)]
pub struct PyLongObject {
    pub ob_base: ffi::PyVarObject,
    pub ob_digit: [Digit; 1],
}

/// `struct _longobject` (`Include/cpython/longintrepr.h`, 3.12–3.13): `PyObject_HEAD`, then
/// `_PyLongValue` (`lv_tag`: the digit count above `NON_SIZE_BITS`, sign and flags below).
#[cfg(Py_3_12)]
#[repr(C)]
pub struct PyLongObject {
    pub ob_base: ffi::PyObject,
    pub lv_tag: usize,
    pub ob_digit: [Digit; 1],
}

/// `_PyLong_NON_SIZE_BITS` (`Include/cpython/longintrepr.h`, 3.12–3.13).
#[cfg(Py_3_12)]
pub const NON_SIZE_BITS: u32 = 3;

/// How many digits an int has: `_PyLong_DigitCount` (3.12–3.13), `Py_ABS(Py_SIZE(o))` before.
///
/// # Safety
/// `o` is a live int.
#[inline]
pub unsafe fn digit_count(o: *mut ffi::PyObject) -> usize {
    let o = o.cast::<PyLongObject>();
    // SAFETY: a live int starts with these fields; only its size word is read.
    unsafe {
        #[cfg(Py_3_12)]
        let n = (*o).lv_tag >> NON_SIZE_BITS;
        #[cfg(not(Py_3_12))]
        let n = (*o).ob_base.ob_size.unsigned_abs();
        n
    }
}

/// `struct _frame` up to the last field read here (`Include/cpython/frameobject.h`, 3.9).
#[cfg(not(Py_3_10))]
#[repr(C)]
pub struct PyFrameObject {
    pub ob_base: ffi::PyVarObject,
    pub f_back: *mut ffi::PyObject,
    pub f_code: *mut ffi::PyObject,
    pub f_builtins: *mut ffi::PyObject,
    pub f_globals: *mut ffi::PyObject,
    pub f_locals: *mut ffi::PyObject,
    pub f_valuestack: *mut *mut ffi::PyObject,
    /// Null while the frame runs; a generator's frame that yielded sets it.
    pub f_stacktop: *mut *mut ffi::PyObject,
    pub f_trace: *mut ffi::PyObject,
    pub f_trace_lines: c_char,
    pub f_trace_opcodes: c_char,
    pub f_gen: *mut ffi::PyObject,
    pub f_lasti: c_int,
    pub f_lineno: c_int,
}

/// `struct _frame` up to the last field read here (`Include/cpython/frameobject.h`, 3.10).
#[cfg(all(Py_3_10, not(Py_3_11)))]
#[repr(C)]
pub struct PyFrameObject {
    pub ob_base: ffi::PyVarObject,
    pub f_back: *mut ffi::PyObject,
    pub f_code: *mut ffi::PyObject,
    pub f_builtins: *mut ffi::PyObject,
    pub f_globals: *mut ffi::PyObject,
    pub f_locals: *mut ffi::PyObject,
    pub f_valuestack: *mut *mut ffi::PyObject,
    pub f_trace: *mut ffi::PyObject,
    pub f_stackdepth: c_int,
    pub f_trace_lines: c_char,
    pub f_trace_opcodes: c_char,
    pub f_gen: *mut ffi::PyObject,
    pub f_lasti: c_int,
    pub f_lineno: c_int,
    pub f_iblock: c_int,
    /// `PyFrameState`, a `signed char`.
    pub f_state: i8,
}

/// `FRAME_SUSPENDED` of `enum _framestate` (`Include/cpython/frameobject.h`, 3.10).
#[cfg(all(Py_3_10, not(Py_3_11)))]
pub const FRAME_SUSPENDED: i8 = -1;

/// `struct _frame` up to the last field read here (`Include/internal/pycore_frame.h`, 3.11).
#[cfg(all(Py_3_11, not(Py_3_12)))]
#[repr(C)]
pub struct PyFrameObject {
    pub ob_base: ffi::PyObject,
    pub f_back: *mut ffi::PyObject,
    pub f_frame: *mut std::ffi::c_void,
    pub f_trace: *mut ffi::PyObject,
    pub f_lineno: c_int,
    pub f_trace_lines: c_char,
}

/// `PyCFunctionObject` (`Include/cpython/methodobject.h`, 3.9–3.13): a built-in function or a
/// built-in method bound to `m_self`; only the fields refscope reads.
#[repr(C)]
pub struct PyCFunctionObject {
    pub ob_base: ffi::PyObject,
    pub m_ml: *mut ffi::PyMethodDef,
    pub m_self: *mut ffi::PyObject,
    pub m_module: *mut ffi::PyObject,
}

/// `PyMethodDescrObject` (`Include/descrobject.h`, 3.9–3.13): `PyDescr_COMMON`, then the method.
#[repr(C)]
pub struct PyMethodDescrObject {
    pub ob_base: ffi::PyObject,
    pub d_type: *mut ffi::PyTypeObject,
    pub d_name: *mut ffi::PyObject,
    pub d_qualname: *mut ffi::PyObject,
    pub d_method: *mut ffi::PyMethodDef,
}

/// Whether the live block at `p` (`size` bytes) holds a dead object that its type keeps for
/// reuse: the free lists of tuples, lists, dicts, floats and contexts, the slice cache, 3.9's zombie
/// frames. A dead object has a reference count of 0, which no live object has. Tuples, lists,
/// dicts, frames and contexts (GC types) keep their type; a float in the free list is linked
/// to the next through `ob_type` (3.9–3.13).
///
/// # Safety
/// `p` must be a live block of at least `size` bytes.
pub unsafe fn kept_for_reuse(p: usize, size: usize) -> bool {
    // SAFETY: every word read is inside the block (sizes checked first).
    let word = |off: usize| unsafe { *((p + off) as *const usize) };
    let gc_types = [
        &raw const ffi::PyTuple_Type as usize,
        &raw const ffi::PyList_Type as usize,
        &raw const ffi::PyDict_Type as usize,
        &raw const ffi::PyFrame_Type as usize,
        &raw const ffi::PyContext_Type as usize,
        &raw const ffi::PySlice_Type as usize,
    ];
    let object = size_of::<ffi::PyObject>();
    if size >= GC_HEAD + object && word(GC_HEAD) == 0 && gc_types.contains(&word(GC_HEAD + 8)) {
        return true;
    }
    // PyFloatObject: a PyObject and a double.
    size == object + 8 && word(0) == 0 && word(8).is_multiple_of(8)
}
