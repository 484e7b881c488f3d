//! The object graph below one object: shallow, deep and retained sizes, by type, largest parts.
//!
//! Traversal is iterative (any depth) through each type's `tp_traverse`, plus the keys of dicts
//! (which `tp_traverse` skips for str keys on 3.11+). Each object is counted once. Shared objects
//! (classes, modules, functions, code, descriptors, and singletons: None, booleans, small ints,
//! immortal objects) are neither counted nor followed unless asked. Nothing here runs a
//! collection or keeps a reference: the graph holds borrowed addresses, read with the GIL held.

pub mod find;
pub mod heap;

use crate::cpython;
use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;
use std::os::raw::{c_int, c_void};

pub struct Node {
    pub addr: *mut ffi::PyObject,
    pub size: u64,
    pub parent: u32,
    /// References to this object from objects of the graph.
    pub inrefs: u32,
    edges: (u32, u32),
}

pub struct Graph {
    pub nodes: Vec<Node>,
    edges: Vec<u32>,
}

/// Type objects whose instances are shared program structure, not data.
pub struct Shared {
    types: Vec<*mut ffi::PyObject>,
}

impl Shared {
    pub fn new(py: Python<'_>) -> PyResult<Shared> {
        let t = py.import("types")?;
        let mut types = Vec::new();
        for name in [
            "ModuleType",
            "FunctionType",
            "BuiltinFunctionType",
            "CodeType",
            "MethodDescriptorType",
            "WrapperDescriptorType",
            "GetSetDescriptorType",
            "MemberDescriptorType",
            "MethodWrapperType",
            "ClassMethodDescriptorType",
        ] {
            types.push(t.getattr(name)?.as_ptr());
        }
        Ok(Shared { types })
    }

    /// # Safety
    /// GIL held; `o` live.
    pub unsafe fn contains(&self, o: *mut ffi::PyObject) -> bool {
        unsafe {
            if cpython::is_immortal(o)
                || ffi::PyType_Check(o) != 0
                || o == ffi::Py_None()
                || o == ffi::Py_True()
                || o == ffi::Py_False()
            {
                return true;
            }
            let tp = ffi::Py_TYPE(o) as *mut ffi::PyObject;
            if self.types.contains(&tp) || o == ffi::Py_Ellipsis() || o == ffi::Py_NotImplemented() {
                return true;
            }
            if ffi::PyLong_CheckExact(o) != 0 {
                let mut overflow = 0;
                let v = ffi::PyLong_AsLongLongAndOverflow(o, &mut overflow);
                return overflow == 0 && (-5..=256).contains(&v);
            }
            false
        }
    }
}

unsafe extern "C" fn collect(o: *mut ffi::PyObject, arg: *mut c_void) -> c_int {
    if !o.is_null() {
        unsafe { (*(arg as *mut Vec<*mut ffi::PyObject>)).push(o) };
    }
    0
}

/// The objects `o` refers to, as the collector sees them plus dict keys.
///
/// # Safety
/// GIL held; `o` live.
pub unsafe fn referents(o: *mut ffi::PyObject, out: &mut Vec<*mut ffi::PyObject>) {
    unsafe {
        if ffi::PyDict_CheckExact(o) != 0 {
            let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
            while ffi::PyDict_Next(o, &mut pos, &mut k, &mut v) != 0 {
                out.push(k);
                out.push(v);
            }
            return;
        }
        let tp = ffi::Py_TYPE(o);
        // Only objects the collector may traverse: static types, for one, may not be.
        let traversable = match (*tp).tp_is_gc {
            Some(is_gc) => is_gc(o) != 0,
            None => true,
        };
        if let (Some(traverse), true) = ((*tp).tp_traverse, traversable) {
            traverse(o, collect, out as *mut _ as *mut c_void);
        }
        if ffi::PyDict_Check(o) != 0 && cfg!(Py_3_11) {
            let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
            while ffi::PyDict_Next(o, &mut pos, &mut k, &mut v) != 0 {
                out.push(k);
            }
        }
    }
}

/// `sys.getsizeof`, calling the type's C `__sizeof__` directly where it has one.
pub struct Sizer {
    getsizeof: Py<PyAny>,
    direct: FxHashMap<usize, Option<ffi::PyCFunction>>,
}

impl Sizer {
    pub fn new(py: Python<'_>) -> PyResult<Sizer> {
        Ok(Sizer {
            getsizeof: py.import("sys")?.getattr("getsizeof")?.unbind(),
            direct: FxHashMap::default(),
        })
    }

    fn lookup(tp: *mut ffi::PyObject) -> Option<ffi::PyCFunction> {
        unsafe {
            let d = ffi::PyObject_GetAttrString(tp, c"__sizeof__".as_ptr());
            if d.is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            let f = if ffi::Py_TYPE(d) == &raw mut ffi::PyMethodDescr_Type {
                let m = (*(d as *mut ffi::PyMethodDescrObject)).d_method;
                ((*m).ml_flags & ffi::METH_NOARGS != 0).then(|| (*m).ml_meth.PyCFunction)
            } else {
                None
            };
            ffi::Py_DECREF(d);
            f
        }
    }

    /// # Safety
    /// GIL held; `o` live.
    pub unsafe fn size(&mut self, py: Python<'_>, o: *mut ffi::PyObject) -> u64 {
        unsafe {
            let tp = ffi::Py_TYPE(o) as *mut ffi::PyObject;
            let f = *self.direct.entry(tp as usize).or_insert_with(|| Self::lookup(tp));
            if let Some(f) = f {
                let r = f(o, std::ptr::null_mut());
                if !r.is_null() {
                    let n = ffi::PyLong_AsSsize_t(r);
                    ffi::Py_DECREF(r);
                    if n >= 0 {
                        return n as u64 + cpython::preheader(o);
                    }
                }
                ffi::PyErr_Clear();
            }
            let r = ffi::PyObject_CallOneArg(self.getsizeof.as_ptr(), o);
            if r.is_null() {
                ffi::PyErr_Clear();
                return 0;
            }
            let _ = py;
            let n = ffi::PyLong_AsSsize_t(r);
            ffi::Py_DECREF(r);
            n.max(0) as u64
        }
    }
}

impl Graph {
    /// Everything reachable from `root` (which is always included), stopping at shared objects
    /// unless `include_shared`.
    pub fn build(py: Python<'_>, root: &Bound<'_, PyAny>, include_shared: bool) -> PyResult<Graph> {
        let shared = Shared::new(py)?;
        let mut sizer = Sizer::new(py)?;
        let root = root.as_ptr();
        let mut index: FxHashMap<usize, u32> = FxHashMap::default();
        let mut nodes = vec![Node {
            addr: root,
            size: unsafe { sizer.size(py, root) },
            parent: u32::MAX,
            inrefs: 0,
            edges: (0, 0),
        }];
        index.insert(root as usize, 0);
        let mut edges = Vec::new();
        let mut stack = vec![0u32];
        let mut scratch = Vec::new();
        while let Some(i) = stack.pop() {
            scratch.clear();
            unsafe { referents(nodes[i as usize].addr, &mut scratch) };
            let start = edges.len() as u32;
            for &c in &scratch {
                if !include_shared && unsafe { shared.contains(c) } {
                    continue;
                }
                let j = match index.get(&(c as usize)) {
                    Some(&j) => j,
                    None => {
                        let j = nodes.len() as u32;
                        let size = unsafe { sizer.size(py, c) };
                        nodes.push(Node {
                            addr: c,
                            size,
                            parent: i,
                            inrefs: 0,
                            edges: (0, 0),
                        });
                        index.insert(c as usize, j);
                        stack.push(j);
                        j
                    }
                };
                nodes[j as usize].inrefs += 1;
                edges.push(j);
            }
            nodes[i as usize].edges = (start, edges.len() as u32);
        }
        Ok(Graph { nodes, edges })
    }

    pub fn children(&self, i: u32) -> &[u32] {
        let (a, b) = self.nodes[i as usize].edges;
        &self.edges[a as usize..b as usize]
    }

    /// Which nodes would be freed if the root became unreachable: those not reachable from any
    /// node that something outside the graph refers to (its reference count exceeds the
    /// references counted inside the graph). The root itself is always retained.
    pub fn retained(&self) -> Vec<bool> {
        let n = self.nodes.len();
        let mut alive = vec![false; n];
        let mut stack: Vec<u32> = (1..n as u32)
            .filter(|&i| {
                let node = &self.nodes[i as usize];
                let refcnt = unsafe { ffi::Py_REFCNT(node.addr) } as i64;
                refcnt > node.inrefs as i64
            })
            .collect();
        for &i in &stack {
            alive[i as usize] = true;
        }
        while let Some(i) = stack.pop() {
            for &c in self.children(i) {
                if c != 0 && !alive[c as usize] {
                    alive[c as usize] = true;
                    stack.push(c);
                }
            }
        }
        alive.iter().map(|a| !a).collect()
    }
}

/// Measures `obj` into a size report.
pub fn measure(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    what: &str,
    include_shared: bool,
    top: usize,
) -> PyResult<crate::report::size::SizeReport> {
    use crate::report::size::{Part, SizeReport, TypeRow, SCHEMA, SCHEMA_VERSION};
    let g = Graph::build(py, obj, include_shared)?;
    let kept = g.retained();
    let name = |o: *mut ffi::PyObject| {
        unsafe { Bound::from_borrowed_ptr(py, o) }
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    let mut types: FxHashMap<usize, TypeRow> = FxHashMap::default();
    let (mut deep, mut retained, mut retained_objects) = (0, 0, 0);
    for (i, n) in g.nodes.iter().enumerate() {
        deep += n.size;
        let row = types
            .entry(unsafe { ffi::Py_TYPE(n.addr) } as usize)
            .or_insert_with(|| TypeRow {
                type_name: name(n.addr),
                count: 0,
                bytes: 0,
                retained_bytes: 0,
            });
        row.count += 1;
        row.bytes += n.size;
        if kept[i] {
            retained += n.size;
            retained_objects += 1;
            row.retained_bytes += n.size;
        }
    }
    let mut by_type: Vec<TypeRow> = types.into_values().collect();
    by_type.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.type_name.cmp(&b.type_name)));
    let mut order: Vec<usize> = (1..g.nodes.len()).collect();
    order.sort_by(|&a, &b| g.nodes[b].size.cmp(&g.nodes[a].size).then(a.cmp(&b)));
    let largest = order
        .into_iter()
        .take(top)
        .map(|i| {
            let mut hops = Vec::new();
            let mut at = i;
            while g.nodes[at].parent != u32::MAX {
                let p = g.nodes[at].parent as usize;
                let parent = unsafe { Bound::from_borrowed_ptr(py, g.nodes[p].addr) };
                hops.push(find::label(py, &parent, g.nodes[at].addr));
                at = p;
            }
            hops.reverse();
            Part {
                path: format!("obj{}", hops.concat()),
                type_name: name(g.nodes[i].addr),
                shallow: g.nodes[i].size,
            }
        })
        .collect();
    let version = py
        .import("platform")
        .and_then(|p| p.call_method0("python_version")?.extract())
        .unwrap_or_default();
    Ok(SizeReport {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        refscope_version: env!("CARGO_PKG_VERSION").into(),
        python: version,
        what: what.into(),
        type_name: name(obj.as_ptr()),
        shallow: g.nodes[0].size,
        deep,
        retained,
        objects: g.nodes.len() as u64,
        retained_objects,
        include_shared,
        by_type,
        largest,
    })
}
