//! A census of the live heap and the module globals that retain the most memory.

use super::{referents, Graph, Shared, Sizer};
use crate::record::heap::{HeapReport, Retainer, TypeCount, SCHEMA, SCHEMA_VERSION};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rustc_hash::{FxHashMap, FxHashSet};

/// Every object the collector tracks and the objects they refer to, by type; then each global of
/// the modules in `user` (module names) measured for the memory it alone keeps alive.
pub fn census(py: Python<'_>, when: &str, user: &[String], top: usize) -> PyResult<HeapReport> {
    let all = py.import("gc")?.call_method0("get_objects")?.cast_into::<PyList>()?;
    let mut sizer = Sizer::new(py)?;
    let mut seen: FxHashSet<usize> = FxHashSet::default();
    seen.insert(all.as_ptr() as usize);
    let mut types: FxHashMap<usize, TypeCount> = FxHashMap::default();
    let (mut objects, mut bytes) = (0u64, 0u64);
    let mut scratch = Vec::new();
    // Every object counted is alive: `all` holds the tracked ones, and they hold what they refer
    // to, while the census frees nothing.
    let mut count = |o: *mut ffi::PyObject, sizer: &mut Sizer| {
        // SAFETY: GIL held, `o` alive (see above).
        let (size, tp) = unsafe { (sizer.size(py, o), ffi::Py_TYPE(o) as usize) };
        objects += 1;
        bytes += size;
        let row = types.entry(tp).or_insert_with(|| TypeCount {
            // SAFETY: as above.
            type_name: unsafe { Bound::from_borrowed_ptr(py, o) }
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            count: 0,
            bytes: 0,
            retained: 0,
        });
        row.count += 1;
        row.bytes += size;
    };
    for o in all.iter() {
        let p = o.as_ptr();
        if seen.insert(p as usize) {
            count(p, &mut sizer);
        }
        scratch.clear();
        // SAFETY: GIL held; `all` holds `p`.
        unsafe { referents(p, &mut scratch) };
        for &c in &scratch {
            if seen.insert(c as usize) {
                count(c, &mut sizer);
            }
        }
    }
    drop(all);

    let shared = Shared::new(py)?;
    let modules = py.import("sys")?.getattr("modules")?.cast_into::<PyDict>()?;
    let mut retainers = Vec::new();
    // Objects kept alive by some global alone, counted once per type.
    let mut kept_once: FxHashSet<usize> = FxHashSet::default();
    for name in user {
        let Some(module) = modules.get_item(name)? else {
            continue;
        };
        let Ok(globals) = module
            .getattr("__dict__")
            .and_then(|d| d.cast_into::<PyDict>().map_err(PyErr::from))
        else {
            continue;
        };
        for (k, v) in globals.iter() {
            let key: String = k.extract().unwrap_or_default();
            // SAFETY: GIL held; `v` is held.
            if key.starts_with("__") || unsafe { shared.contains(v.as_ptr()) } {
                continue;
            }
            let g = Graph::build(py, &v, false, 0, super::never)?;
            let kept = g.retained();
            // Folded leaves live and die with their node: counted where it is counted first.
            let first: Vec<bool> = g
                .nodes
                .iter()
                .zip(&kept)
                .map(|(n, k)| *k && kept_once.insert(n.addr as usize))
                .collect();
            let (mut retained, mut retained_objects, mut deep) = (0, 0, 0);
            for (i, tp, count, bytes) in g.parts() {
                deep += bytes;
                if kept[i] {
                    retained += bytes;
                    retained_objects += count;
                }
                if first[i] {
                    if let Some(row) = types.get_mut(&tp) {
                        row.retained += bytes;
                    }
                }
            }
            retainers.push(Retainer {
                path: format!("{name}.{key}"),
                type_name: v.get_type().name().map(|n| n.to_string()).unwrap_or_default(),
                retained,
                retained_objects,
                deep,
            });
        }
    }
    let mut by_type: Vec<TypeCount> = types.into_values().collect();
    by_type.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.type_name.cmp(&b.type_name)));
    retainers.sort_by(|a, b| b.retained.cmp(&a.retained).then(a.path.cmp(&b.path)));
    retainers.truncate(top.max(1) * 5);
    Ok(HeapReport {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        when: when.into(),
        objects,
        bytes,
        by_type,
        retainers,
    })
}
