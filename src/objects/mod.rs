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
    /// Its type and reference count, read while the object is at hand (later passes then need
    /// not touch a million objects again).
    pub tp: usize,
    refs: u32,
    pub parent: u32,
    /// References to this object from objects of the graph.
    pub inrefs: u32,
    edges: (u32, u32),
}

/// Leaves of one type that one node alone refers to (reference count 1, nothing below them),
/// summed instead of numbered: they live and die with that node. Most of a big structure is such
/// leaves (the ints of a list, the floats and str keys of a dict), and a node each would cost
/// more than measuring them.
pub struct Folded {
    pub parent: u32,
    pub count: u32,
    pub tp: usize,
    pub bytes: u64,
}

pub struct Graph {
    pub nodes: Vec<Node>,
    edges: Vec<u32>,
    pub folded: Vec<Folded>,
    /// Objects whose `__sizeof__` raised, counted as 0 B.
    pub unsized_objects: u64,
}

/// Type objects whose instances are shared program structure or singletons, not data.
pub struct Shared {
    types: rustc_hash::FxHashSet<usize>,
    /// The cached small ints (-5 to 256) sit in one array: an address range.
    small_ints: (usize, usize),
    int_type: usize,
}

impl Shared {
    pub fn new(py: Python<'_>) -> PyResult<Shared> {
        let t = py.import("types")?;
        let b = py.import("builtins")?;
        let mut types = rustc_hash::FxHashSet::default();
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
            "NoneType",
            "EllipsisType",
            "NotImplementedType",
        ] {
            if let Ok(tp) = t.getattr(name) {
                types.insert(tp.as_ptr() as usize);
            }
        }
        for (name, o) in [
            ("bool", b.getattr("bool")?),
            ("none", py.None().into_bound(py).get_type().into_any()),
        ] {
            let _ = name;
            types.insert(o.as_ptr() as usize);
        }
        for o in [b.getattr("Ellipsis")?, b.getattr("NotImplemented")?] {
            types.insert(o.get_type().as_ptr() as usize);
        }
        let lo = (-5i64).into_pyobject(py)?.as_ptr() as usize;
        let hi = 256i64.into_pyobject(py)?.as_ptr() as usize;
        let int_type = b.getattr("int")?.as_ptr() as usize;
        Ok(Shared {
            types,
            small_ints: (lo.min(hi), lo.max(hi)),
            int_type,
        })
    }

    /// # Safety
    /// GIL held; `o` live.
    #[inline]
    pub unsafe fn contains(&self, o: *mut ffi::PyObject) -> bool {
        // SAFETY: GIL held and `o` live, as the caller promises.
        unsafe {
            let tp = ffi::Py_TYPE(o) as usize;
            if tp == self.int_type {
                let a = o as usize;
                return (self.small_ints.0..=self.small_ints.1).contains(&a) || cpython::is_immortal(o);
            }
            self.types.contains(&tp)
                || ffi::PyType_Check(o) != 0
                || ffi::PyModule_Check(o) != 0
                || cpython::is_immortal(o)
        }
    }
}

/// The `visitproc` `referents` hands to `tp_traverse`: collects each object visited.
///
/// # Safety
/// `arg` is the `Vec<*mut ffi::PyObject>` given to `tp_traverse`, borrowed by nobody else.
unsafe extern "C" fn collect(o: *mut ffi::PyObject, arg: *mut c_void) -> c_int {
    if !o.is_null() {
        // SAFETY: as the caller promises.
        unsafe { (*(arg as *mut Vec<*mut ffi::PyObject>)).push(o) };
    }
    0
}

/// The objects `o` refers to, as the collector sees them plus dict keys.
///
/// # Safety
/// GIL held; `o` live.
pub unsafe fn referents(o: *mut ffi::PyObject, out: &mut Vec<*mut ffi::PyObject>) {
    // SAFETY: GIL held and `o` live, as the caller promises; dict iteration and `tp_traverse`
    // only read, and `collect` gets `out`, which nothing else borrows meanwhile.
    unsafe {
        if ffi::PyDict_CheckExact(o) != 0 {
            let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
            while ffi::PyDict_Next(o, &mut pos, &mut k, &mut v) != 0 {
                out.push(k);
                out.push(v);
            }
            return;
        }
        // A module: its namespace only. Its C-level state is internal (types, caches), and some
        // modules' traverse functions cannot be trusted on every version (3.12's `_asyncio` walks
        // a free list that can loop after heavy asyncio use).
        if ffi::PyModule_Check(o) != 0 {
            let d = ffi::PyModule_GetDict(o);
            if !d.is_null() {
                out.push(d);
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
            let start = out.len();
            traverse(o, collect, out as *mut _ as *mut c_void);
            if let Some(d) = cpython::materialized_dict(o) {
                if !out[start..].contains(&d) {
                    out.push(d);
                }
            }
        }
        // `tp_traverse` of a dict subclass skips the keys when they are all exact str (and visits
        // them otherwise): add them in the first case only.
        if ffi::PyDict_Check(o) != 0 {
            let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
            let mut keys = Vec::new();
            while ffi::PyDict_Next(o, &mut pos, &mut k, &mut v) != 0 {
                keys.push(k);
            }
            if keys.iter().all(|&k| ffi::PyUnicode_CheckExact(k) != 0) {
                out.extend(keys);
            }
        }
    }
}

/// Whether `o` reports objects it holds no reference of its own to, so that a child with a
/// reference count of 1 may be met again elsewhere: a split dict (its keys are the class's) and,
/// on 3.13, an instance whose `__dict__` was made (the instance reports its inline values and the
/// dict reports them again).
///
/// # Safety
/// GIL held; `o` live.
unsafe fn shares_children(o: *mut ffi::PyObject) -> bool {
    // SAFETY: as the caller promises.
    unsafe { (ffi::PyDict_Check(o) != 0 && cpython::dict_is_split(o)) || cpython::materialized_dict(o).is_some() }
}

/// How to get `sys.getsizeof` of a type's instances without calling into Python.
#[derive(Clone, Copy)]
enum Kind {
    /// `object.__sizeof__` on a fixed-size type: the same for every instance.
    Fixed(u64),
    /// `object.__sizeof__` on a variable-size type: base + item × |ob_size|.
    Var {
        base: u64,
        item: u64,
    },
    Int,
    List {
        base: u64,
    },
    /// str: compact ASCII computed here, the rest through its C `__sizeof__`.
    Str(ffi::PyCFunction),
    /// A C `__sizeof__`, called directly.
    Call(ffi::PyCFunction),
    /// A `__sizeof__` written in Python: `sys.getsizeof`.
    Py,
}

/// Bytes per allocated list slot (`ob_item` holds pointers).
const LIST_ITEM: u64 = std::mem::size_of::<*mut ffi::PyObject>() as u64;

/// `sys.getsizeof` of each object, fast: per-type knowledge cached, C `__sizeof__` called directly.
pub struct Sizer {
    getsizeof: Py<PyAny>,
    object_sizeof: Option<ffi::PyCFunction>,
    int_type: usize,
    list_type: usize,
    str_type: usize,
    ascii_base: u64,
    kinds: FxHashMap<usize, (Kind, u64)>,
    last: (usize, Kind, u64),
    /// Objects whose `__sizeof__` raised (`sys.getsizeof` raises too): counted as 0 B.
    pub failed: std::cell::Cell<u64>,
}

/// The C function behind `tp.__sizeof__`, when it is a plain METH_NOARGS method descriptor.
///
/// # Safety
/// GIL held; `tp` is a live type.
unsafe fn c_sizeof(tp: *mut ffi::PyObject) -> Option<ffi::PyCFunction> {
    // SAFETY: GIL held and `tp` live; the attribute is a new reference, released after use, and
    // only read as a method descriptor when its type says it is one.
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

impl Sizer {
    pub fn new(py: Python<'_>) -> PyResult<Sizer> {
        let b = py.import("builtins")?;
        // SAFETY: GIL held (a `Python` token); `object` is a type that lives for the process.
        let object_sizeof = unsafe { c_sizeof(b.getattr("object")?.as_ptr()) };
        Ok(Sizer {
            getsizeof: py.import("sys")?.getattr("getsizeof")?.unbind(),
            object_sizeof,
            int_type: b.getattr("int")?.as_ptr() as usize,
            list_type: b.getattr("list")?.as_ptr() as usize,
            str_type: b.getattr("str")?.as_ptr() as usize,
            ascii_base: py.import("sys")?.getattr("getsizeof")?.call1(("",))?.extract::<u64>()? - 1,
            kinds: FxHashMap::default(),
            last: (0, Kind::Py, 0),
            failed: std::cell::Cell::new(0),
        })
    }

    /// # Safety
    /// GIL held; `tp` is a live type.
    unsafe fn classify(&self, tp: *mut ffi::PyTypeObject) -> (Kind, u64) {
        // SAFETY: GIL held and `tp` live, as the caller promises.
        unsafe {
            let pre = cpython::type_preheader(tp);
            let (basic, item) = ((*tp).tp_basicsize as u64, (*tp).tp_itemsize as u64);
            // Objects that decide per instance whether they are GC objects (types): ask sys.getsizeof.
            let kind = if (*tp).tp_is_gc.is_some() {
                Kind::Py
            } else if tp as usize == self.int_type {
                Kind::Int
            } else if tp as usize == self.list_type {
                Kind::List { base: basic }
            } else if let (true, Some(f)) = (tp as usize == self.str_type, c_sizeof(tp as *mut ffi::PyObject)) {
                Kind::Str(f)
            } else {
                match c_sizeof(tp as *mut ffi::PyObject) {
                    Some(f) if Some(f as usize) == self.object_sizeof.map(|g| g as usize) => {
                        if item == 0 {
                            Kind::Fixed(basic + pre)
                        } else {
                            Kind::Var { base: basic, item }
                        }
                    }
                    Some(f) => Kind::Call(f),
                    None => Kind::Py,
                }
            };
            (kind, pre)
        }
    }

    /// # Safety
    /// GIL held; `o` live.
    #[inline]
    pub unsafe fn size(&mut self, py: Python<'_>, o: *mut ffi::PyObject) -> u64 {
        // SAFETY: GIL held and `o` live, as the caller promises; each kind reads only the fields
        // its type has (`ob_size` of a variable-size object, `allocated` of a list).
        unsafe {
            let tp = ffi::Py_TYPE(o);
            let (kind, pre) = if self.last.0 == tp as usize {
                (self.last.1, self.last.2)
            } else {
                let k = match self.kinds.get(&(tp as usize)) {
                    Some(k) => *k,
                    None => {
                        let k = self.classify(tp);
                        self.kinds.insert(tp as usize, k);
                        k
                    }
                };
                self.last = (tp as usize, k.0, k.1);
                k
            };
            let var = |o: *mut ffi::PyObject| (*(o as *mut ffi::PyVarObject)).ob_size.unsigned_abs() as u64;
            match kind {
                Kind::Fixed(n) => n,
                Kind::Var { base, item } => base + item * var(o) + pre,
                Kind::Int => cpython::int_sizeof(o),
                Kind::List { base } => base + (*(o as *mut ffi::PyListObject)).allocated as u64 * LIST_ITEM + pre,
                Kind::Str(f) => match cpython::ascii_sizeof(o, self.ascii_base) {
                    Some(n) => n,
                    None => self.call(py, f, o, pre),
                },
                Kind::Call(f) => self.call(py, f, o, pre),
                Kind::Py => self.python(py, o),
            }
        }
    }

    /// A C `__sizeof__` called directly, plus the pre-header.
    ///
    /// # Safety
    /// GIL held; `o` live; `f` is its type's `__sizeof__`.
    unsafe fn call(&self, py: Python<'_>, f: ffi::PyCFunction, o: *mut ffi::PyObject, pre: u64) -> u64 {
        // SAFETY: as the caller promises; a METH_NOARGS function takes a null second argument and
        // returns a new reference or null with an error set.
        unsafe {
            let r = f(o, std::ptr::null_mut());
            if r.is_null() {
                ffi::PyErr_Clear();
                return self.python(py, o);
            }
            let n = ffi::PyLong_AsSsize_t(r);
            ffi::Py_DECREF(r);
            n.max(0) as u64 + pre
        }
    }

    /// `sys.getsizeof(o)` itself.
    ///
    /// # Safety
    /// GIL held; `o` live.
    pub unsafe fn python(&self, py: Python<'_>, o: *mut ffi::PyObject) -> u64 {
        let _ = py;
        // SAFETY: GIL held and `o` live, as the caller promises; the result is a new reference or
        // null with an error set.
        unsafe {
            let r = ffi::PyObject_CallOneArg(self.getsizeof.as_ptr(), o);
            if r.is_null() {
                ffi::PyErr_Clear();
                self.failed.set(self.failed.get() + 1);
                return 0;
            }
            let n = ffi::PyLong_AsSsize_t(r);
            ffi::Py_DECREF(r);
            n.max(0) as u64
        }
    }
}

/// Node numbers by object address: objects are at least 16 bytes apart, so one `u32` per 16
/// bytes of each 1 MiB region that holds objects. Far faster than hashing every address.
struct AddrIndex {
    chunks: FxHashMap<usize, Box<[u32]>>,
    last: (usize, *mut u32),
}

const CHUNK_SHIFT: u32 = 20;
const SLOTS: usize = 1 << (CHUNK_SHIFT - 4);

impl AddrIndex {
    fn new() -> AddrIndex {
        AddrIndex {
            chunks: FxHashMap::default(),
            last: (usize::MAX, std::ptr::null_mut()),
        }
    }

    /// The slot for `addr` (0: not yet numbered; else node number + 1).
    #[inline]
    fn slot(&mut self, addr: usize) -> &mut u32 {
        let chunk = addr >> CHUNK_SHIFT;
        if chunk != self.last.0 {
            let c = self
                .chunks
                .entry(chunk)
                .or_insert_with(|| vec![0u32; SLOTS].into_boxed_slice());
            self.last = (chunk, c.as_mut_ptr());
        }
        // SAFETY: the index is below SLOTS and the chunk lives as long as `self`.
        unsafe { &mut *self.last.1.add((addr >> 4) & (SLOTS - 1)) }
    }
}

/// The `n` largest leaf sizes met so far (a min-heap): a leaf that might be among the largest
/// parts or the tree gets a node of its own; the others are folded.
struct LargestLeaves {
    n: usize,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<u64>>,
}

impl LargestLeaves {
    /// Whether a leaf of `size` bytes ranks among the largest so far (it is then counted as one).
    #[inline]
    fn admits(&mut self, size: u64) -> bool {
        if self.heap.len() < self.n {
            self.heap.push(std::cmp::Reverse(size));
            return true;
        }
        match self.heap.peek() {
            Some(m) if size > m.0 => {
                self.heap.pop();
                self.heap.push(std::cmp::Reverse(size));
                true
            }
            _ => false,
        }
    }
}

impl Graph {
    /// Everything reachable from `root` (which is always included), stopping at shared objects
    /// unless `include_shared`. Leaves only one node refers to are folded into it, except the
    /// `distinct` largest, which get nodes of their own.
    pub fn build(
        py: Python<'_>,
        root: &Bound<'_, PyAny>,
        include_shared: bool,
        distinct: usize,
        stop: Stop,
    ) -> PyResult<Graph> {
        let shared = Shared::new(py)?;
        let mut sizer = Sizer::new(py)?;
        let root = root.as_ptr();
        let mut index = AddrIndex::new();
        // SAFETY: GIL held (a `Python` token); the caller holds `root`.
        let size = unsafe { sizer.python(py, root) };
        let mut nodes = vec![Node {
            addr: root,
            size,
            // SAFETY: as above.
            tp: unsafe { ffi::Py_TYPE(root) } as usize,
            refs: 0,
            parent: u32::MAX,
            inrefs: 0,
            edges: (0, 0),
        }];
        *index.slot(root as usize) = 1;
        let mut edges = Vec::new();
        let mut folded: Vec<Folded> = Vec::new();
        let mut largest = LargestLeaves {
            n: distinct,
            heap: std::collections::BinaryHeap::with_capacity(distinct + 1),
        };
        let mut stack = vec![0u32];
        let mut scratch = Vec::new();
        while let Some(i) = stack.pop() {
            if i.is_multiple_of(STOP_EVERY) && stop() {
                return Err(interrupted());
            }
            scratch.clear();
            let parent = nodes[i as usize].addr;
            // A split dict (an instance `__dict__` sharing its class's keys) reaches its keys but
            // holds no reference to them: they do not count as references from inside.
            // SAFETY: GIL held; every node is reachable from `root`, which the caller holds, and
            // the walk frees nothing.
            let split = unsafe {
                referents(parent, &mut scratch);
                ffi::PyDict_Check(parent) != 0 && cpython::dict_is_split(parent)
            };
            // SAFETY: as above.
            let shares = unsafe { shares_children(parent) };
            let start = edges.len() as u32;
            let folded_from = folded.len();
            for &c in &scratch {
                // SAFETY: `parent` refers to `c`, so it is alive.
                if !include_shared && unsafe { shared.contains(c) } {
                    continue;
                }
                // A leaf with one reference, which `parent` holds, is reached through nothing
                // else (see `shares_children` for the parents where that does not hold).
                // SAFETY: `parent` refers to `c`, so it is alive; its type lives while it does.
                let (tp, refs) = unsafe { (ffi::Py_TYPE(c), ffi::Py_REFCNT(c)) };
                // SAFETY: as above.
                let leaf = unsafe { (*tp).tp_traverse.is_none() };
                let mut size = None;
                if leaf && refs == 1 && !shares {
                    // SAFETY: as above.
                    let n = unsafe { sizer.size(py, c) };
                    if !largest.admits(n) {
                        let tp = tp as usize;
                        match folded[folded_from..].iter_mut().rev().take(8).find(|f| f.tp == tp) {
                            Some(f) => {
                                f.count += 1;
                                f.bytes += n;
                            }
                            None => folded.push(Folded {
                                parent: i,
                                count: 1,
                                tp,
                                bytes: n,
                            }),
                        }
                        continue;
                    }
                    size = Some(n);
                }
                let next = nodes.len() as u32;
                let slot = index.slot(c as usize);
                if *slot == 0 {
                    *slot = next + 1;
                }
                let j = *slot - 1;
                if j == next {
                    // SAFETY: `parent` refers to `c`, so it is alive.
                    let size = size.unwrap_or_else(|| unsafe { sizer.size(py, c) });
                    nodes.push(Node {
                        addr: c,
                        size,
                        tp: tp as usize,
                        refs: refs.clamp(0, u32::MAX as isize) as u32,
                        parent: i,
                        inrefs: 0,
                        edges: (0, 0),
                    });
                    // An object with no traverse function refers to nothing: no visit needed.
                    if !leaf {
                        stack.push(j);
                    }
                }
                // SAFETY: `parent` is a live dict when `split`, and `c` a live key or value of it.
                let key_of_split = split && unsafe { ffi::PyDict_Contains(parent, c) == 1 };
                if !key_of_split {
                    nodes[j as usize].inrefs += 1;
                }
                edges.push(j);
            }
            nodes[i as usize].edges = (start, edges.len() as u32);
        }
        Ok(Graph {
            nodes,
            edges,
            folded,
            unsized_objects: sizer.failed.get(),
        })
    }

    /// Objects in the graph, folded leaves included.
    pub fn objects(&self) -> u64 {
        self.nodes.len() as u64 + self.folded.iter().map(|f| f.count as u64).sum::<u64>()
    }

    /// Every object's bytes as (the node it is or hangs from, its type, objects, bytes): nodes
    /// first, in order, then folded leaves.
    pub fn parts(&self) -> impl Iterator<Item = (usize, usize, u64, u64)> + '_ {
        let nodes = self.nodes.iter().enumerate().map(|(i, n)| (i, n.tp, 1, n.size));
        nodes.chain(
            self.folded
                .iter()
                .map(|f| (f.parent as usize, f.tp, f.count as u64, f.bytes)),
        )
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
                node.refs > node.inrefs
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

/// A set of object addresses, one bit per 16 bytes (objects are at least 16 bytes apart), in
/// 1 MiB chunks: cheaper than numbering nodes when only the total is wanted.
struct Visited {
    chunks: FxHashMap<usize, Box<[u64]>>,
    last: (usize, *mut u64),
}

impl Visited {
    const WORDS: usize = (1 << CHUNK_SHIFT) / 16 / 64;

    fn new() -> Visited {
        Visited {
            chunks: FxHashMap::default(),
            last: (usize::MAX, std::ptr::null_mut()),
        }
    }

    /// True when `addr` was not in the set yet.
    #[inline]
    fn insert(&mut self, addr: usize) -> bool {
        let chunk = addr >> CHUNK_SHIFT;
        if chunk != self.last.0 {
            let c = self
                .chunks
                .entry(chunk)
                .or_insert_with(|| vec![0u64; Self::WORDS].into_boxed_slice());
            self.last = (chunk, c.as_mut_ptr());
        }
        let bit = (addr >> 4) & ((1 << (CHUNK_SHIFT - 4)) - 1);
        // SAFETY: bit / 64 < WORDS and the chunk lives as long as `self`.
        let w = unsafe { &mut *self.last.1.add(bit / 64) };
        let m = 1u64 << (bit % 64);
        let new = *w & m == 0;
        *w |= m;
        new
    }
}

/// Deep size only (no retained size, no largest parts): no graph is built.
fn measure_deep(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    include_shared: bool,
    stop: Stop,
) -> PyResult<(u64, u64, u64, Vec<crate::record::size::TypeRow>, u64)> {
    use crate::record::size::TypeRow;
    let shared = Shared::new(py)?;
    let mut sizer = Sizer::new(py)?;
    let root = obj.as_ptr();
    let mut seen = Visited::new();
    seen.insert(root as usize);
    let mut stack = vec![root];
    let mut scratch = Vec::new();
    let (mut deep, mut objects) = (0u64, 0u64);
    let mut rows: Vec<TypeRow> = Vec::new();
    // Type → row: a few types make up most structures, so a short list is scanned first.
    let mut recent: Vec<(usize, usize)> = Vec::new();
    let mut row_of: FxHashMap<usize, usize> = FxHashMap::default();
    // Every object met is alive: reachable from `obj`, which the caller holds, while the walk
    // frees nothing.
    let mut account = |o: *mut ffi::PyObject, size: u64| {
        deep += size;
        objects += 1;
        // SAFETY: `o` is alive (see above).
        let tp = unsafe { ffi::Py_TYPE(o) } as usize;
        let at = match recent.iter().find(|r| r.0 == tp) {
            Some(r) => r.1,
            None => {
                let at = *row_of.entry(tp).or_insert_with(|| {
                    rows.push(TypeRow {
                        // SAFETY: GIL held, `o` alive (see above).
                        type_name: unsafe { Bound::from_borrowed_ptr(py, o) }
                            .get_type()
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                        count: 0,
                        bytes: 0,
                        retained_bytes: 0,
                    });
                    rows.len() - 1
                });
                if recent.len() < 8 {
                    recent.push((tp, at));
                }
                at
            }
        };
        rows[at].count += 1;
        rows[at].bytes += size;
    };
    // SAFETY: GIL held (a `Python` token); the caller holds `root`.
    let shallow = unsafe { sizer.python(py, root) };
    account(root, shallow);
    let mut first = true;
    let mut walked = 0u32;
    while let Some(o) = stack.pop() {
        walked = walked.wrapping_add(1);
        if walked.is_multiple_of(STOP_EVERY) && stop() {
            return Err(interrupted());
        }
        scratch.clear();
        // SAFETY: `o` is alive (see `account`).
        unsafe {
            if !std::mem::take(&mut first) {
                let size = sizer.size(py, o);
                account(o, size);
            }
            referents(o, &mut scratch);
        }
        // SAFETY: `o` is alive (see `account`).
        let shares = unsafe { shares_children(o) };
        for &c in &scratch {
            // SAFETY: `o` refers to `c`, so it is alive.
            unsafe {
                if !include_shared && shared.contains(c) {
                    continue;
                }
                // An object with no traverse function refers to nothing: counted at once; when
                // its one reference is `o`'s, it is met only here and need not be remembered.
                let leaf = (*ffi::Py_TYPE(c)).tp_traverse.is_none();
                let only_here = leaf && ffi::Py_REFCNT(c) == 1 && !shares;
                if only_here || seen.insert(c as usize) {
                    if leaf {
                        let size = sizer.size(py, c);
                        account(c, size);
                    } else {
                        stack.push(c);
                    }
                }
            }
        }
    }
    Ok((shallow, deep, objects, rows, sizer.failed.get()))
}

/// Measures `obj` into a size report.
/// Asked now and then during a walk: true stops it with KeyboardInterrupt (a signal handler of
/// the caller's own set the flag; Python's handlers cannot run while raw pointers are held).
pub type Stop = fn() -> bool;

/// Never stops (the walk ends when it ends).
pub fn never() -> bool {
    false
}

const STOP_EVERY: u32 = 1 << 14;

fn interrupted() -> PyErr {
    pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted while measuring")
}

pub fn measure(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    what: &str,
    include_shared: bool,
    top: usize,
    retained: bool,
    stop: Stop,
) -> PyResult<crate::record::size::SizeReport> {
    use crate::record::size::{SizeReport, SCHEMA, SCHEMA_VERSION};
    let version = py
        .import("platform")
        .and_then(|p| p.call_method0("python_version")?.extract())
        .unwrap_or_default();
    let type_name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    if !retained {
        let (shallow, deep, objects, mut by_type, unsized_objects) = measure_deep(py, obj, include_shared, stop)?;
        by_type.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.type_name.cmp(&b.type_name)));
        return Ok(SizeReport {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            refscope_version: env!("CARGO_PKG_VERSION").into(),
            python: version,
            what: what.into(),
            type_name,
            shallow,
            deep,
            retained: None,
            objects,
            retained_objects: None,
            include_shared,
            by_type,
            largest: Vec::new(),
            unsized_objects,
            tree: Vec::new(),
        });
    }
    let g = Graph::build(py, obj, include_shared, top.max(TREE_NODES), stop)?;
    let kept = g.retained();
    let (by_type, deep, retained, retained_objects) = type_rows(py, &g, &kept);
    let largest = largest(py, &g, top);
    let tree = tree(py, &g, what, TREE_NODES);
    Ok(SizeReport {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        refscope_version: env!("CARGO_PKG_VERSION").into(),
        python: version,
        what: what.into(),
        type_name,
        shallow: g.nodes[0].size,
        deep,
        retained: Some(retained),
        objects: g.objects(),
        retained_objects: Some(retained_objects),
        include_shared,
        by_type,
        largest,
        unsized_objects: g.unsized_objects,
        tree,
    })
}

/// Nodes of the size tree at most.
pub const TREE_NODES: usize = 300;

/// The spanning tree of `g` (each node under the one it was first reached through) cut to the
/// `budget` largest subtrees and their ancestors.
fn tree(py: Python<'_>, g: &Graph, what: &str, budget: usize) -> Vec<crate::record::size::TreeNode> {
    let n = g.nodes.len();
    // A node comes after its parent, so one backward pass adds each subtree into its parent.
    let mut bytes: Vec<u64> = g.nodes.iter().map(|n| n.size).collect();
    let mut objects = vec![1u32; n];
    let mut children = vec![0u32; n];
    for f in &g.folded {
        let p = f.parent as usize;
        bytes[p] += f.bytes;
        objects[p] += f.count;
        children[p] += f.count;
    }
    for i in (1..n).rev() {
        let p = g.nodes[i].parent as usize;
        bytes[p] += bytes[i];
        objects[p] += objects[i];
        children[p] += 1;
    }
    // Parts under 1/500 of the whole are left folded: they would only be noise.
    let floor = bytes[0] / 500;
    let mut order: Vec<usize> = (0..n).filter(|&i| i == 0 || bytes[i] >= floor.max(1)).collect();
    let by_bytes = |a: &usize, b: &usize| bytes[*b].cmp(&bytes[*a]).then(a.cmp(b));
    if order.len() > budget {
        order.select_nth_unstable_by(budget - 1, by_bytes);
        order.truncate(budget);
    }
    let mut keep = vec![false; n];
    for i in order {
        let mut at = i;
        while !keep[at] {
            keep[at] = true;
            if at == 0 {
                break;
            }
            at = g.nodes[at].parent as usize;
        }
    }
    // Labels, a pass per parent over its kept children.
    let mut label: FxHashMap<usize, String> = FxHashMap::default();
    label.insert(0, what.to_string());
    let mut by_parent: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    for i in (1..n).filter(|&i| keep[i]) {
        by_parent.entry(g.nodes[i].parent as usize).or_default().push(i);
    }
    let mut kept_children: FxHashMap<usize, u32> = FxHashMap::default();
    for (p, kids) in &by_parent {
        kept_children.insert(*p, kids.len() as u32);
        let addrs: Vec<_> = kids.iter().map(|&k| g.nodes[k].addr).collect();
        // SAFETY: GIL held; nodes of the graph are alive while the caller holds the measured object.
        let parent = unsafe { Bound::from_borrowed_ptr(py, g.nodes[*p].addr) };
        for (&k, l) in kids.iter().zip(find::child_labels(py, &parent, &addrs)) {
            label.insert(k, l);
        }
    }
    let mut index = vec![u32::MAX; n];
    let mut out: Vec<crate::record::size::TreeNode> = Vec::new();
    for i in (0..n).filter(|&i| keep[i]) {
        index[i] = out.len() as u32;
        out.push(crate::record::size::TreeNode {
            parent: (i > 0).then(|| index[g.nodes[i].parent as usize]),
            label: label.remove(&i).unwrap_or_default(),
            type_name: type_name(py, g.nodes[i].tp),
            shallow: g.nodes[i].size,
            bytes: bytes[i],
            objects: objects[i] as u64,
            more: 0,
        });
    }
    for i in (0..n).filter(|&i| keep[i]) {
        out[index[i] as usize].more = (children[i] - kept_children.get(&i).copied().unwrap_or(0)) as u64;
    }
    out
}

/// The name of the type of objects of a graph.
pub fn type_name(py: Python<'_>, tp: usize) -> String {
    // SAFETY: GIL held; `tp` is the type of objects of a graph, alive (reachable from the
    // measured object, which the caller holds), so the type is alive too.
    unsafe { Bound::from_borrowed_ptr(py, tp as *mut ffi::PyObject).cast_into_unchecked::<pyo3::types::PyType>() }
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// Deep bytes, retained bytes and objects, by type (largest first), and in all.
fn type_rows(py: Python<'_>, g: &Graph, kept: &[bool]) -> (Vec<crate::record::size::TypeRow>, u64, u64, u64) {
    use crate::record::size::TypeRow;
    // Rows by type; consecutive nodes are often of one type, so the last row is kept at hand.
    let mut rows: Vec<TypeRow> = Vec::new();
    let mut row_of: FxHashMap<usize, usize> = FxHashMap::default();
    let mut last = (0usize, 0usize);
    let (mut deep, mut retained, mut retained_objects) = (0, 0, 0);
    for (i, tp, count, bytes) in g.parts() {
        deep += bytes;
        if tp != last.0 || rows.is_empty() {
            let at = *row_of.entry(tp).or_insert_with(|| {
                rows.push(TypeRow {
                    type_name: type_name(py, tp),
                    count: 0,
                    bytes: 0,
                    retained_bytes: 0,
                });
                rows.len() - 1
            });
            last = (tp, at);
        }
        let row = &mut rows[last.1];
        row.count += count;
        row.bytes += bytes;
        if kept[i] {
            retained += bytes;
            retained_objects += count;
            row.retained_bytes += bytes;
        }
    }
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.type_name.cmp(&b.type_name)));
    (rows, deep, retained, retained_objects)
}

/// The `top` largest objects inside the measured one (itself left out), with where they hang.
fn largest(py: Python<'_>, g: &Graph, top: usize) -> Vec<crate::record::size::Part> {
    // The `top` largest in one pass: a min-heap of (size, earliest first) holding `top` entries.
    let mut heap = std::collections::BinaryHeap::with_capacity(top + 1);
    if top > 0 {
        for (i, n) in g.nodes.iter().enumerate().skip(1) {
            let key = std::cmp::Reverse((n.size, std::cmp::Reverse(i)));
            if heap.len() < top {
                heap.push(key);
            } else if heap.peek().is_some_and(|m| key < *m) {
                heap.pop();
                heap.push(key);
            }
        }
    }
    let by_size = |a: &usize, b: &usize| g.nodes[*b].size.cmp(&g.nodes[*a].size).then(a.cmp(b));
    let mut order: Vec<usize> = heap
        .into_iter()
        .map(|std::cmp::Reverse((_, std::cmp::Reverse(i)))| i)
        .collect();
    order.sort_by(by_size);
    order.truncate(top);
    // Every hop of every path, labelled in one pass per parent (a big dict is scanned once, not
    // once per part that hangs below it).
    let mut wanted: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    for &i in &order {
        let mut at = i;
        while g.nodes[at].parent != u32::MAX {
            let p = g.nodes[at].parent as usize;
            let kids = wanted.entry(p).or_default();
            if !kids.contains(&at) {
                kids.push(at);
            }
            at = p;
        }
    }
    let mut hop: FxHashMap<(usize, usize), String> = FxHashMap::default();
    for (p, kids) in &wanted {
        let addrs: Vec<_> = kids.iter().map(|&k| g.nodes[k].addr).collect();
        // SAFETY: GIL held; a node of the graph, alive while the caller holds the measured object.
        let parent = unsafe { Bound::from_borrowed_ptr(py, g.nodes[*p].addr) };
        for (&k, l) in kids.iter().zip(find::child_labels(py, &parent, &addrs)) {
            hop.insert((*p, k), l);
        }
    }
    order
        .into_iter()
        .map(|i| {
            let mut hops = Vec::new();
            let mut at = i;
            while g.nodes[at].parent != u32::MAX {
                let p = g.nodes[at].parent as usize;
                hops.push(hop.get(&(p, at)).cloned().unwrap_or_default());
                at = p;
            }
            hops.reverse();
            crate::record::size::Part {
                path: format!("obj{}", hops.concat()),
                type_name: type_name(py, g.nodes[i].tp),
                shallow: g.nodes[i].size,
            }
        })
        .collect()
}
