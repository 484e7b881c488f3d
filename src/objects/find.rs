//! Finding objects in the live heap: by id (never by dereferencing the number) and the shortest
//! reference paths from the program's roots to an object.

use super::referents;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// The live object whose `id()` is `id`: searched among the objects the collector tracks and
/// the objects they refer to, so untracked objects (ints, strings) held by a container are found.
pub fn by_id<'py>(py: Python<'py>, id: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
    let gc = py.import("gc")?;
    let objects = gc.call_method0("get_objects")?.cast_into::<PyList>()?;
    // Frames hold locals the collector lists nowhere else (3.11+ keeps them off the heap).
    let frames = py.import("sys")?.call_method0("_current_frames")?;
    let mut starts: Vec<Bound<'py, PyAny>> = objects.iter().collect();
    for f in frames.call_method0("values")?.try_iter()?.flatten() {
        let mut f = Some(f);
        while let Some(fr) = f {
            f = fr.getattr("f_back").ok().filter(|b| !b.is_none());
            if let Some(locals) = crate::cpython::frame_locals(&fr) {
                starts.push(locals);
            }
        }
    }
    let is_tracked = gc.getattr("is_tracked")?;
    let mut seen = rustc_hash::FxHashSet::default();
    let mut scratch = Vec::new();
    for o in &starts {
        if o.as_ptr() as usize == id {
            return Ok(Some(o.clone()));
        }
        // Untracked containers (a tuple of ints in a list) are searched too, to any depth.
        let mut stack = vec![o.as_ptr()];
        while let Some(p) = stack.pop() {
            scratch.clear();
            // SAFETY: GIL held; `p` is a start, which `starts` holds, or was reached from one.
            unsafe { referents(p, &mut scratch) };
            for &c in &scratch {
                // SAFETY: `p` refers to `c`, so it is alive; this takes a reference of its own.
                let child = unsafe { Bound::from_borrowed_ptr(py, c) };
                if c as usize == id {
                    return Ok(Some(child));
                }
                if !is_tracked.call1((&child,))?.is_truthy()? && seen.insert(c as usize) {
                    stack.push(c);
                }
            }
        }
    }
    Ok(None)
}

/// How `child` hangs off `parent`, as Python would write it.
pub fn label(py: Python<'_>, parent: &Bound<'_, PyAny>, child: *mut ffi::PyObject) -> String {
    labels(py, parent, child).into_iter().next().unwrap_or_default()
}

/// How each of `children` hangs off `parent` (the first way, as `label`), in one pass over a
/// list or dict however many children are asked for.
pub fn child_labels(py: Python<'_>, parent: &Bound<'_, PyAny>, children: &[*mut ffi::PyObject]) -> Vec<String> {
    if children.len() < 2 || !(parent.is_instance_of::<PyList>() || parent.is_instance_of::<PyDict>()) {
        return children.iter().map(|&c| label(py, parent, c)).collect();
    }
    let mut want: FxHashMap<usize, Option<String>> = children.iter().map(|&c| (c as usize, None)).collect();
    let mut missing = want.len();
    let p = parent.as_ptr();
    if parent.is_instance_of::<PyList>() {
        // SAFETY: `p` is a list, held, and every index read is below its length.
        let n = unsafe { ffi::PyList_GET_SIZE(p) };
        for i in 0..n {
            // SAFETY: as above.
            let item = unsafe { ffi::PyList_GET_ITEM(p, i) } as usize;
            if let Some(slot @ None) = want.get_mut(&item) {
                *slot = Some(format!("[{i}]"));
                missing -= 1;
                if missing == 0 {
                    break;
                }
            }
        }
    } else {
        let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: `p` is a dict, held; PyDict_Next lends its entries, and the dict is not
        // changed while they are read.
        while missing > 0 && unsafe { ffi::PyDict_Next(p, &mut pos, &mut k, &mut v) } != 0 {
            for (o, as_value) in [(v, true), (k, false)] {
                if let Some(slot @ None) = want.get_mut(&(o as usize)) {
                    // SAFETY: `k` is a key of the dict, alive; this takes a reference of its own.
                    let key = unsafe { Bound::from_borrowed_ptr(py, k) };
                    let r = key.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
                    *slot = Some(if as_value {
                        format!("[{r}]")
                    } else {
                        format!(" key {r}")
                    });
                    missing -= 1;
                }
            }
        }
    }
    children
        .iter()
        .map(|&c| match want.get(&(c as usize)) {
            Some(Some(l)) => l.clone(),
            _ => label(py, parent, c),
        })
        .collect()
}

/// Every way `child` hangs off `parent` (a dict may hold it under several keys).
pub fn labels(py: Python<'_>, parent: &Bound<'_, PyAny>, child: *mut ffi::PyObject) -> Vec<String> {
    let mut out = Vec::new();
    let repr = |o: &Bound<'_, PyAny>| o.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
    if parent.is_instance_of::<PyDict>() {
        // Raw entries: no reference traffic per item on big dicts; only matches are formatted.
        let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: `parent` is a dict, held; PyDict_Next lends its entries, and the dict is not
        // changed while they are read.
        while unsafe { ffi::PyDict_Next(parent.as_ptr(), &mut pos, &mut k, &mut v) } != 0 {
            if v == child || k == child {
                // SAFETY: `k` is a key of the dict, alive; this takes a reference of its own.
                let key = unsafe { Bound::from_borrowed_ptr(py, k) };
                out.push(if v == child {
                    format!("[{}]", repr(&key))
                } else {
                    format!(" key {}", repr(&key))
                });
            }
        }
    }
    if parent.is_instance_of::<PyList>() {
        // Raw slots: no reference traffic per item on long lists.
        let p = parent.as_ptr();
        // SAFETY: `p` is a list, held, and every index read is below its length.
        let n = unsafe { ffi::PyList_GET_SIZE(p) };
        out.extend(
            (0..n)
                // SAFETY: as above.
                .filter(|&i| unsafe { ffi::PyList_GET_ITEM(p, i) } == child)
                .map(|i| format!("[{i}]")),
        );
    }
    if let Ok(t) = parent.cast::<PyTuple>() {
        out.extend(
            t.iter()
                .enumerate()
                .filter(|(_, x)| x.as_ptr() == child)
                .map(|(i, _)| format!("[{i}]")),
        );
    }
    // A mapping that is not a dict: 3.13's frame-locals view.
    if out.is_empty()
        && !parent.is_instance_of::<PyDict>()
        && parent.get_type().name().is_ok_and(|n| n == "FrameLocalsProxy")
    {
        if let Ok(items) = parent
            .call_method0("items")
            .and_then(|i| i.try_iter().map(|it| it.flatten().collect::<Vec<_>>()))
        {
            for item in items {
                if let Ok((k, v)) = item.extract::<(String, Bound<'_, PyAny>)>() {
                    if v.as_ptr() == child {
                        out.push(format!("['{k}']"));
                    }
                }
            }
        }
    }
    if out.is_empty() {
        out.push(label_other(py, parent, child));
    }
    out
}

fn label_other(py: Python<'_>, parent: &Bound<'_, PyAny>, child: *mut ffi::PyObject) -> String {
    // Slots and attributes: look only at what is already there (a missing instance dict is
    // not created: reading `__dict__` would change the heap).
    if let Ok(names) = parent
        .get_type()
        .getattr("__slots__")
        .and_then(|s| s.extract::<Vec<String>>())
    {
        for n in names {
            if parent.getattr(n.as_str()).map(|v| v.as_ptr() == child).unwrap_or(false) {
                return format!(".{n}");
            }
        }
    }
    let _ = py;
    // SAFETY: callers pass a `child` that `parent`, which they hold, refers to.
    let ty = unsafe { Bound::from_borrowed_ptr(py, child) }
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    format!(" -> {ty}")
}

/// Up to `limit` shortest reference paths from the roots (loaded modules, then the calling
/// frames' locals) to `target`, written as expressions.
pub fn paths(py: Python<'_>, target: &Bound<'_, PyAny>, limit: usize) -> PyResult<Vec<String>> {
    let sys = py.import("sys")?;
    let mut roots: Vec<(String, Bound<'_, PyAny>)> = Vec::new();
    for (name, module) in sys.getattr("modules")?.cast_into::<PyDict>()?.iter() {
        if let Ok(d) = module.getattr("__dict__") {
            roots.push((name.extract::<String>().unwrap_or_default(), d));
        }
    }
    let mut frame = sys.call_method1("_getframe", (0,)).ok();
    while let Some(f) = frame {
        let name: String = f
            .getattr("f_code")
            .and_then(|c| c.getattr("co_name"))
            .and_then(|n| n.extract())
            .unwrap_or_default();
        if name != "<module>" {
            if let Some(locals) = crate::cpython::frame_locals(&f) {
                if !roots.iter().any(|r| r.1.is(&locals)) {
                    roots.push((format!("<locals of {name}()>"), locals));
                }
            }
        }
        frame = f.getattr("f_back").ok().filter(|b| !b.is_none());
    }
    let goal = target.as_ptr() as usize;
    let mut found = Vec::new();
    let mut parent: FxHashMap<usize, (usize, Option<String>)> = FxHashMap::default();
    let mut queue = VecDeque::new();
    for (name, d) in &roots {
        let key = d.as_ptr() as usize;
        if parent.insert(key, (0, Some(name.clone()))).is_none() {
            queue.push_back(d.as_ptr());
        }
    }
    let mut scratch = Vec::new();
    while let Some(p) = queue.pop_front() {
        scratch.clear();
        // SAFETY: GIL held; every queued object is reachable from a root `roots` holds, and the
        // search frees nothing.
        unsafe { referents(p, &mut scratch) };
        for &c in &scratch {
            if c as usize == goal {
                let mut chain = vec![(p as usize, c)];
                let mut at = p as usize;
                while let Some((up, None)) = parent.get(&at) {
                    chain.push((*up, at as *mut ffi::PyObject));
                    at = *up;
                }
                let mut text = parent.get(&at).and_then(|(_, n)| n.clone()).unwrap_or_default();
                let step = |par: &Bound<'_, PyAny>, l: String| {
                    let is_root = roots.iter().any(|r| r.1.as_ptr() == par.as_ptr());
                    if is_root && par.is_instance_of::<PyDict>() && l.starts_with("['") {
                        format!(".{}", l.trim_start_matches("['").trim_end_matches("']"))
                    } else {
                        l
                    }
                };
                let (last, above) = chain.split_first().expect("the chain has the found edge");
                for (par, child) in above.iter().rev() {
                    // SAFETY: a queued object, alive (see above).
                    let par = unsafe { Bound::from_borrowed_ptr(py, *par as *mut ffi::PyObject) };
                    let l = label(py, &par, *child);
                    text.push_str(&step(&par, l));
                }
                // SAFETY: a queued object, alive (see above).
                let par = unsafe { Bound::from_borrowed_ptr(py, last.0 as *mut ffi::PyObject) };
                for l in labels(py, &par, last.1) {
                    let full = format!("{text}{}", step(&par, l));
                    if !found.contains(&full) {
                        found.push(full);
                    }
                    if found.len() >= limit {
                        return Ok(found);
                    }
                }
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(c as usize) {
                e.insert((p as usize, None));
                queue.push_back(c);
            }
        }
    }
    Ok(found)
}
