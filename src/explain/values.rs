//! How `refscope explain` shows an object: a short value that never runs your code (no user
//! `__repr__`, `__eq__` or properties), the references it holds, and why CPython may share it.

use crate::cpython;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple, PyType};

const WIDTH: usize = 48;

/// An instance of a static type (C code, CPython's or an extension's), not of a class.
pub fn is_builtin(o: &Bound<'_, PyAny>) -> bool {
    // SAFETY: `o` is a live object and the GIL is held, so its type and the flags are readable.
    unsafe { ffi::PyType_GetFlags(ffi::Py_TYPE(o.as_ptr())) & ffi::Py_TPFLAGS_HEAPTYPE == 0 }
}

fn type_name(o: &Bound<'_, PyAny>) -> String {
    o.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A scalar whose `repr` is CPython's own.
fn scalar(o: &Bound<'_, PyAny>) -> bool {
    o.is_none()
        || o.is_exact_instance_of::<PyInt>()
        || o.is_exact_instance_of::<PyFloat>()
        || o.is_exact_instance_of::<PyString>()
        || o.is_exact_instance_of::<PyBytes>()
        || o.is_exact_instance_of::<pyo3::types::PyBool>()
        || o.is_exact_instance_of::<pyo3::types::PyComplex>()
        || o.is_exact_instance_of::<pyo3::types::PyRange>()
        || o.is_exact_instance_of::<pyo3::types::PySlice>()
        || o.is(o.py().Ellipsis())
}

fn cut(mut s: String, width: usize) -> String {
    if s.chars().count() > width {
        s = s.chars().take(width.saturating_sub(1)).collect::<String>() + "…";
    }
    s
}

fn short(o: &Bound<'_, PyAny>, budget: usize, depth: u32) -> String {
    if scalar(o) {
        return cut(o.repr().map(|r| r.to_string()).unwrap_or_default(), budget);
    }
    let items = |open: &str, close: &str, it: Vec<Bound<'_, PyAny>>| {
        if depth >= 2 {
            return format!("{open}…{close}");
        }
        let mut s = open.to_string();
        for (i, x) in it.iter().enumerate() {
            if s.chars().count() >= budget {
                s.push('…');
                break;
            }
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&short(x, budget / 2, depth + 1));
        }
        if it.len() == 1 && open == "(" {
            s.push(',');
        }
        s.push_str(close);
        cut(s, budget)
    };
    if let Ok(l) = o.cast_exact::<PyList>() {
        return items("[", "]", l.iter().take(16).collect());
    }
    if let Ok(t) = o.cast_exact::<PyTuple>() {
        return items("(", ")", t.iter().take(16).collect());
    }
    if let Ok(d) = o.cast_exact::<PyDict>() {
        if depth >= 2 {
            return "{…}".into();
        }
        let mut s = "{".to_string();
        for (i, (k, v)) in d.iter().enumerate() {
            if s.chars().count() >= budget || i >= 16 {
                s.push('…');
                break;
            }
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&format!(
                "{}: {}",
                short(&k, budget / 3, depth + 1),
                short(&v, budget / 2, depth + 1)
            ));
        }
        s.push('}');
        return cut(s, budget);
    }
    if o.is_exact_instance_of::<PySet>() || o.is_exact_instance_of::<PyFrozenSet>() {
        let it: Vec<_> = o.try_iter().map(|i| i.flatten().take(16).collect()).unwrap_or_default();
        if it.is_empty() {
            return format!("{}()", type_name(o));
        }
        return items("{", "}", it);
    }
    if let Ok(t) = o.cast::<PyType>() {
        return format!("<class {}>", t.name().map(|n| n.to_string()).unwrap_or_default());
    }
    let name = o
        .getattr("__qualname__")
        .ok()
        .filter(|_| is_builtin(o))
        .and_then(|n| n.extract::<String>().ok());
    match name {
        Some(n) => format!("<{} {n}>", type_name(o)),
        None => format!("<{} object>", type_name(o)),
    }
}

/// (type name, short value).
pub fn describe(_py: Python<'_>, o: &Bound<'_, PyAny>) -> (String, String) {
    (type_name(o), short(o, WIDTH, 0))
}

/// The references `o` holds that the picture follows: items, dict values, instance attributes.
/// Classes, functions and modules are leaves.
pub fn children<'py>(py: Python<'py>, o: &Bound<'py, PyAny>, limit: usize) -> Vec<(String, Bound<'py, PyAny>)> {
    let mut out = Vec::new();
    if let Ok(l) = o.cast::<PyList>() {
        for (i, x) in l.iter().take(limit).enumerate() {
            out.push((format!("[{i}]"), x));
        }
    } else if let Ok(t) = o.cast::<PyTuple>() {
        for (i, x) in t.iter().take(limit).enumerate() {
            out.push((format!("[{i}]"), x));
        }
    } else if let Ok(d) = o.cast::<PyDict>() {
        for (k, v) in d.iter().take(limit) {
            out.push((format!("[{}]", short(&k, 16, 1)), v));
        }
    } else if o.is_instance_of::<PySet>() || o.is_instance_of::<PyFrozenSet>() {
        if let Ok(it) = o.try_iter() {
            for x in it.flatten().take(limit) {
                out.push(("∈".to_string(), x));
            }
        }
    } else if !is_builtin(o) && !o.is_instance_of::<PyType>() {
        // An instance of a class: its attributes, read without running its code.
        if let Ok(d) = py
            .import("builtins")
            .and_then(|b| b.getattr("object"))
            .and_then(|obj| obj.call_method1("__getattribute__", (o, "__dict__")))
        {
            if let Ok(d) = d.cast::<PyDict>() {
                for (k, v) in d.iter() {
                    if let Ok(k) = k.extract::<String>() {
                        out.push((format!(".{k}"), v));
                    }
                }
            }
        }
    }
    out
}

/// Why CPython gives several names this one object by itself, if it does.
pub fn shared_reason(py: Python<'_>, o: &Bound<'_, PyAny>, consts: Option<&Bound<'_, PyAny>>) -> Option<String> {
    // SAFETY: `o` is a live object.
    let immortal = if unsafe { cpython::is_immortal(o.as_ptr()) } {
        " (immortal: its reference count never changes and it is never freed)"
    } else {
        ""
    };
    let reason = if o.is_none() || o.is_exact_instance_of::<pyo3::types::PyBool>() || o.is(py.Ellipsis()) {
        Some("None, True and False are singletons: there is exactly one of each".to_string())
    } else if o.cast_exact::<PyTuple>().is_ok_and(|t| t.is_empty()) {
        Some("the empty tuple is shared: CPython keeps a single one".to_string())
    } else if o.is_exact_instance_of::<PyInt>() && o.extract::<i64>().is_ok_and(|v| (-5..=256).contains(&v)) {
        Some("small-int cache: CPython keeps one object for each int from -5 to 256".to_string())
    } else if in_consts(o, consts) {
        Some("a constant of the compiled code: equal literals in one code object share one object".to_string())
    } else if o.is_exact_instance_of::<PyString>()
        // SAFETY: `o` is a live exact str, as just checked.
        && unsafe { cpython::is_interned(o.as_ptr()) }
    {
        Some("interned string: CPython keeps one copy of identifier-like strings".to_string())
    } else {
        None
    };
    reason.map(|r| format!("{r}{immortal}"))
}

fn in_consts(o: &Bound<'_, PyAny>, consts: Option<&Bound<'_, PyAny>>) -> bool {
    let Some(c) = consts.and_then(|c| c.cast::<PyTuple>().ok()) else {
        return false;
    };
    // Scalars only: a tuple constant is shared too, but tuples of constants are what people write.
    scalar(o) && c.iter().any(|x| x.is(o))
}
