//! Calls as `refscope profile` sees them: what a profiling backend reports, and how CPython's C
//! callables are told apart and named (as cProfile names them, so `pstats` files match).

use super::layout::{PyCFunctionObject, PyMethodDescrObject};
use pyo3::ffi;
use pyo3::prelude::*;

/// What a profiling backend reports, one call per interpreter event, always with the GIL held
/// and never re-entered on one thread. `key` identifies a running Python frame; `t` is the
/// clock at entry. Static dispatch, as for `Events`.
pub trait Calls: 'static {
    /// A Python frame of `code` starts, or resumes: `resumed` is asked, told whether the code is
    /// a generator or coroutine, and answers whether this continues a suspended frame.
    fn enter(key: usize, code: *mut ffi::PyObject, t: u64, resumed: impl FnOnce(bool) -> bool);
    /// Frame `key` returns, yields or unwinds; true when it runs a generator or coroutine.
    fn leave(key: usize, t: u64) -> bool;
    /// The running Python frame calls `object`: a C function, method or class when `callable`
    /// is Some. False: calls from this frame's code never need reporting (they fold into it).
    fn call(callable: Option<CCallable>, object: *mut ffi::PyObject, t: u64) -> bool;
    /// That C call returned or raised.
    fn c_return(callable: CCallable, t: u64);
    /// A thread the `threading` module started is about to run its target.
    fn thread_started(name: String);
    /// As `Events::not_the_programs`.
    #[cfg_attr(not(Py_3_11), allow(dead_code))]
    fn not_the_programs(block: *mut std::ffi::c_void);
}

/// A C callable that gets a profile entry of its own: a built-in function or method (keyed by
/// its `PyMethodDef`, which every bound copy shares) or a built-in class (keyed by the type).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CCallable(pub usize);

/// What `object`, being called, counts as; None for what cProfile does not count either
/// (Python functions, which report their own frames, partial objects, slot wrappers, classes
/// defined in Python, whose `__init__` shows).
///
/// # Safety
/// GIL held; `object` is a live object.
#[inline(always)]
pub unsafe fn c_callable(object: *mut ffi::PyObject) -> Option<CCallable> {
    // SAFETY: `object` is live; each cast follows the type check that makes it valid.
    unsafe {
        if ffi::PyCFunction_Check(object) != 0 {
            return Some(CCallable((*object.cast::<PyCFunctionObject>()).m_ml as usize));
        }
        if ffi::Py_IS_TYPE(object, &raw mut ffi::PyMethodDescr_Type) != 0 {
            return Some(CCallable((*object.cast::<PyMethodDescrObject>()).d_method as usize));
        }
        if ffi::PyType_Check(object) != 0 && ffi::PyType_GetFlags(object.cast()) & ffi::Py_TPFLAGS_HEAPTYPE == 0 {
            return Some(CCallable(object as usize));
        }
    }
    None
}

/// How a C callable is named: `label` as cProfile writes it (`<built-in method builtins.len>`,
/// `<method 'append' of 'list' objects>`), `name` as people say it (`len`, `list.append`), and
/// whether it is a class.
pub struct CNames {
    pub label: String,
    pub name: String,
    pub class: bool,
}

/// Names `object`, a callable `c_callable` accepted.
pub fn c_names(object: &Bound<'_, PyAny>) -> CNames {
    let py = object.py();
    let text = |o: PyResult<Bound<'_, PyAny>>| o.and_then(|o| o.str().map(|s| s.to_string())).unwrap_or_default();
    if let Ok(t) = object.cast::<pyo3::types::PyType>() {
        let name = text(t.getattr("__qualname__"));
        return CNames {
            label: text(t.repr().map(Bound::into_any)),
            name,
            class: true,
        };
    }
    // SAFETY: GIL held (`object` is bound); `c_callable` checked the type before this is called.
    let (def, this, module) = unsafe {
        if ffi::PyCFunction_Check(object.as_ptr()) != 0 {
            let f = object.as_ptr().cast::<PyCFunctionObject>();
            ((*f).m_ml, (*f).m_self, (*f).m_module)
        } else {
            // A method descriptor: its repr is what cProfile shows for the method once bound.
            let d = object.as_ptr().cast::<PyMethodDescrObject>();
            let owner = text(Bound::from_borrowed_ptr(py, (*d).d_type.cast()).getattr("__qualname__"));
            let ml_name = std::ffi::CStr::from_ptr((*(*d).d_method).ml_name).to_string_lossy();
            return CNames {
                label: text(object.repr().map(Bound::into_any)),
                name: format!("{owner}.{ml_name}"),
                class: false,
            };
        }
    };
    // SAFETY: `def` is the function's live method table entry.
    let ml_name = unsafe { std::ffi::CStr::from_ptr((*def).ml_name) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: `m_module` is null or a live object the function holds.
    let module = (!module.is_null()).then(|| unsafe { Bound::from_borrowed_ptr(py, module) });
    let module_name = module.and_then(|m| {
        if let Ok(s) = m.cast::<pyo3::types::PyString>() {
            return Some(s.to_string());
        }
        m.cast::<pyo3::types::PyModule>()
            .ok()
            .and_then(|m| m.name().ok().map(|n| n.to_string()))
    });
    let qualified = |m: &Option<String>| match m.as_deref() {
        Some("builtins") | None => ml_name.clone(),
        Some(m) => format!("{m}.{ml_name}"),
    };
    if this.is_null() {
        let label = match module_name.as_deref() {
            Some(m) if m != "builtins" => format!("<{m}.{ml_name}>"),
            _ => format!("<{ml_name}>"),
        };
        return CNames {
            label,
            name: qualified(&module_name),
            class: false,
        };
    }
    // SAFETY: `m_self` is a live object the function holds.
    let this = unsafe { Bound::from_borrowed_ptr(py, this) };
    // A method bound to an object: what its type's MRO holds under that name (as
    // `_PyType_Lookup`), shown by its repr.
    let found = this
        .get_type()
        .mro()
        .iter()
        .find_map(|t| t.getattr("__dict__").ok()?.get_item(&ml_name).ok());
    if let Some(found) = found {
        let owner = found
            .getattr("__objclass__")
            .ok()
            .map(|c| text(c.getattr("__qualname__")))
            .unwrap_or_else(|| text(this.get_type().getattr("__qualname__")));
        return CNames {
            label: text(found.repr().map(Bound::into_any)),
            name: format!("{owner}.{ml_name}"),
            class: false,
        };
    }
    let module_str = module_name.as_deref();
    let owner = match this.cast::<pyo3::types::PyModule>() {
        Ok(_) => module_name.clone(),
        Err(_) => this
            .cast::<pyo3::types::PyType>()
            .ok()
            .map(|t| text(t.getattr("__qualname__"))),
    };
    CNames {
        label: match module_str {
            Some(m) => format!("<built-in method {m}.{ml_name}>"),
            None => format!("<built-in method {ml_name}>"),
        },
        name: qualified(&owner),
        class: false,
    }
}

/// What refscope reads of a code object when it first sees it.
pub struct CodeInfo {
    pub filename: String,
    pub name: String,
    pub qualname: String,
    pub first_line: u32,
    pub flags: i64,
}

/// Reads `code`'s names, first line and flags (empty or 0 where an attribute cannot be read).
///
/// # Safety
/// GIL held; `code` is a live code object.
pub unsafe fn code_info(code: *mut ffi::PyObject) -> CodeInfo {
    // SAFETY: GIL held, `code` live; the result is a new reference or null with an error set.
    let attr = |name: &std::ffi::CStr| unsafe { ffi::PyObject_GetAttrString(code, name.as_ptr()) };
    // SAFETY: `o` is what `attr` returned: a new reference, released here, or null.
    let text = |o: *mut ffi::PyObject| unsafe {
        if o.is_null() {
            ffi::PyErr_Clear();
            return String::new();
        }
        let mut n: ffi::Py_ssize_t = 0;
        let p = ffi::PyUnicode_AsUTF8AndSize(o, &mut n);
        let s = if p.is_null() {
            ffi::PyErr_Clear();
            String::new()
        } else {
            String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, n as usize)).into_owned()
        };
        ffi::Py_DECREF(o);
        s
    };
    // SAFETY: as for `text`.
    let int = |o: *mut ffi::PyObject| unsafe {
        if o.is_null() {
            ffi::PyErr_Clear();
            return 0;
        }
        let v = ffi::PyLong_AsLongLong(o);
        ffi::Py_DECREF(o);
        if v == -1 && !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_Clear();
        }
        v
    };
    CodeInfo {
        filename: text(attr(c"co_filename")),
        name: text(attr(c"co_name")),
        qualname: text(attr(super::QUALNAME_C)),
        first_line: int(attr(c"co_firstlineno")).max(0) as u32,
        flags: int(attr(c"co_flags")),
    }
}

/// How refscope learns that a thread starts: `threading.setprofile` holds a marker, so every new
/// thread calls `sys.setprofile(marker)` before its target runs; refscope answers that call and
/// hands every other one to CPython. `threading.getprofile()` still answers None.
struct Threads {
    sys_setprofile: Py<PyAny>,
    threading_getprofile: Option<Py<PyAny>>,
    marker: Py<PyAny>,
    on_thread: fn(Python<'_>),
}

static THREADS: super::GilCell<Option<Threads>> = super::GilCell::new(None);

/// Starts answering new threads' `sys.setprofile(marker)` with `on_thread`, in the new thread.
pub(super) fn watch_threads(py: Python<'_>, on_thread: fn(Python<'_>)) -> PyResult<()> {
    let sys = py.import("sys")?;
    let threading = py.import("threading")?;
    let marker = py.import("builtins")?.getattr("object")?.call0()?.unbind();
    let t = Threads {
        sys_setprofile: sys.getattr("setprofile")?.unbind(),
        threading_getprofile: threading.getattr("getprofile").ok().map(Bound::unbind),
        marker: marker.clone_ref(py),
        on_thread,
    };
    threading.getattr("setprofile")?.call1((marker.bind(py),))?;
    sys.setattr("setprofile", wrap_pyfunction!(sys_setprofile, py)?)?;
    if t.threading_getprofile.is_some() {
        threading.setattr("getprofile", wrap_pyfunction!(threading_getprofile, py)?)?;
    }
    // SAFETY: GIL held (a `Python` token), outside any event.
    unsafe { *THREADS.get() = Some(t) };
    Ok(())
}

/// Puts `sys.setprofile` and `threading` back as they were (the program's own hook stays).
pub(super) fn unwatch_threads(py: Python<'_>) {
    // SAFETY: GIL held (a `Python` token), outside any event.
    let Some(t) = (unsafe { THREADS.get() }).take() else {
        return;
    };
    let (Ok(sys), Ok(threading)) = (py.import("sys"), py.import("threading")) else {
        return;
    };
    let _ = sys.setattr("setprofile", t.sys_setprofile.bind(py));
    if let Some(g) = &t.threading_getprofile {
        let _ = threading.setattr("getprofile", g.bind(py));
    }
    let hook = threading.getattr("_profile_hook").ok();
    if hook.is_some_and(|h| h.is(t.marker.bind(py))) {
        let _ = threading.getattr("setprofile").and_then(|f| f.call1((py.None(),)));
    }
}

/// `sys.setprofile` while refscope profiles.
#[pyfunction]
#[pyo3(name = "setprofile")]
fn sys_setprofile(py: Python<'_>, function: Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: GIL held (a `Python` token), outside any event; the fields are cloned out before
    // any Python code runs.
    let (original, on_thread, is_marker) = match unsafe { THREADS.get() }.as_ref() {
        Some(t) => (
            t.sys_setprofile.clone_ref(py),
            Some(t.on_thread),
            function.is(t.marker.bind(py)),
        ),
        None => return Ok(()),
    };
    match on_thread {
        Some(f) if is_marker => {
            f(py);
            Ok(())
        }
        _ => original.bind(py).call1((function,)).map(drop),
    }
}

/// `threading.getprofile` while refscope profiles: None for refscope's marker.
#[pyfunction]
#[pyo3(name = "getprofile")]
fn threading_getprofile(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: GIL held (a `Python` token), outside any event.
    let Some((get, marker)) = (unsafe { THREADS.get() })
        .as_ref()
        .and_then(|t| Some((t.threading_getprofile.as_ref()?.clone_ref(py), t.marker.clone_ref(py))))
    else {
        return Ok(py.None());
    };
    let hook = get.bind(py).call0()?;
    Ok(if hook.is(marker.bind(py)) {
        py.None()
    } else {
        hook.unbind()
    })
}

/// The name of the running thread, as `threading` knows it.
pub(super) fn thread_name(py: Python<'_>) -> String {
    py.import("threading")
        .and_then(|t| t.call_method0("current_thread")?.getattr("name")?.extract())
        .unwrap_or_default()
}
