//! The interpreter side of a step: your frames, their names and the objects they reach, read into
//! a plain `diff::State`, with refscope's own references taken out of the counts. Between steps it
//! keeps only numbers by address, never a reference.

use super::diff::State;
use super::values;
use crate::cpython::{self, frees};
use crate::record::explain::{Binding, Edge, FrameState, Obj, Plan};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

/// refscope's numbers for the live objects and the running frames it has shown, by address.
pub struct Numbers {
    /// Address of a live object → its ref.
    refs: FxHashMap<usize, u32>,
    next_ref: u32,
    /// Address of a running frame of yours → its id.
    frames: FxHashMap<usize, u32>,
    next_frame: u32,
}

impl Numbers {
    pub fn new() -> Numbers {
        Numbers {
            refs: FxHashMap::default(),
            next_ref: 1,
            frames: FxHashMap::default(),
            next_frame: 1,
        }
    }

    /// The id of the frame at `key`, numbering it the first time.
    pub fn frame(&mut self, key: usize) -> u32 {
        *self.frames.entry(key).or_insert_with(|| {
            let id = self.next_frame;
            self.next_frame += 1;
            id
        })
    }

    /// The frame at `key` ended: a frame there later is another one.
    pub fn frame_ended(&mut self, key: usize) {
        self.frames.remove(&key);
    }

    /// The ref of a live object and whether it is new, watching it the first time.
    fn object(&mut self, o: &Bound<'_, PyAny>) -> (u32, bool) {
        let addr = o.as_ptr() as usize;
        if let Some(&r) = self.refs.get(&addr) {
            return (r, false);
        }
        let r = self.next_ref;
        self.next_ref += 1;
        // Immortal objects never die; others are watched so that their address is forgotten then.
        // SAFETY: `o` is a live object and the GIL is held (`frees::watch`'s contract).
        if unsafe { cpython::never_freed(o.as_ptr()) || frees::watch(o.as_ptr()) } {
            self.refs.insert(addr, r);
        }
        (r, true)
    }

    /// The refs of the freed addresses that were shown, forgetting those addresses.
    pub fn freed(&mut self, addrs: &[usize]) -> Vec<u32> {
        addrs.iter().filter_map(|a| self.refs.remove(a)).collect()
    }
}

/// (frame id, name, a handle on its object) of every name of your frames.
type Names<'py> = Vec<(u32, String, Bound<'py, PyAny>)>;

/// The picture after a line: `chain` are your frames, outermost first; `frame` is the one the
/// next event came from (its code's constants tell which objects CPython shares).
pub fn take(
    py: Python<'_>,
    numbers: &mut Numbers,
    plan: &Plan,
    frame: &Bound<'_, PyAny>,
    chain: &[Bound<'_, PyAny>],
) -> PyResult<State> {
    let mut locals_refs: FxHashMap<usize, i64> = FxHashMap::default();
    let mut frames = Vec::new();
    let mut names: Names<'_> = Vec::new();
    for fr in chain {
        let id = numbers.frame(fr.as_ptr() as usize);
        let function = qualname(&fr.getattr("f_code")?);
        names.extend(
            frame_names(py, fr, &mut locals_refs)?
                .into_iter()
                .map(|(n, v)| (id, n, v)),
        );
        let line: u32 = fr.getattr("f_lineno")?.extract().unwrap_or(0);
        frames.push((id, function, line));
    }
    let walk = Walk::new(py, numbers, plan, &names);
    let consts = frame.getattr("f_code")?.getattr("co_consts").ok();
    let objects = objects(py, &walk, &names, &locals_refs, consts.as_ref())?;
    let of = |v: &Bound<'_, PyAny>| walk.index.get(&(v.as_ptr() as usize)).map(|&j| walk.order[j].0);
    let frames = frames
        .into_iter()
        .map(|(id, function, line)| FrameState {
            id,
            function,
            line,
            bindings: names
                .iter()
                .filter(|(f, _, _)| *f == id)
                .filter_map(|(_, n, v)| {
                    Some(Binding {
                        name: n.clone(),
                        object: of(v)?,
                    })
                })
                .collect(),
        })
        .collect();
    let fresh = walk
        .order
        .iter()
        .filter(|x| x.2)
        .map(|x| x.0)
        .collect::<FxHashSet<u32>>();
    Ok(State {
        frames,
        objects,
        fresh,
        objects_cut: walk.cut,
    })
}

fn qualname(code: &Bound<'_, PyAny>) -> String {
    code.getattr(cpython::QUALNAME)
        .and_then(|n| n.extract())
        .unwrap_or_default()
}

/// A frame's names: the module's globals at module level, else its locals; dunder names and
/// modules left out. Counts into `locals_refs` the references only refscope's looking made.
fn frame_names<'py>(
    py: Python<'py>,
    fr: &Bound<'py, PyAny>,
    locals_refs: &mut FxHashMap<usize, i64>,
) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let globals = fr.getattr("f_globals")?;
    let module_level = fr.getattr("f_locals").map(|l| l.is(&globals)).unwrap_or(false);
    let names: Vec<(String, Bound<'py, PyAny>)> = if module_level {
        globals
            .cast::<PyDict>()?
            .iter()
            .filter_map(|(k, v)| Some((k.extract::<String>().ok()?, v)))
            .collect()
    } else {
        let locals = cpython::frame_locals(fr).unwrap_or_else(|| PyDict::new(py).into_any());
        if cpython::TRACE_KEEPS_LOCALS_COPY {
            if let Ok(d) = locals.cast::<PyDict>() {
                for (_, v) in d.iter() {
                    *locals_refs.entry(v.as_ptr() as usize).or_default() += 1;
                }
            }
        }
        let items = locals.call_method0("items")?;
        items
            .try_iter()?
            .flatten()
            .filter_map(|kv| kv.extract::<(String, Bound<'py, PyAny>)>().ok())
            .collect()
    };
    Ok(names
        .into_iter()
        .filter(|(n, v)| !(n.starts_with("__") && n.ends_with("__") || v.is_instance_of::<PyModule>()))
        .collect())
}

/// Objects reached from the names, breadth first, to the depth and the cap.
struct Walk<'py> {
    /// (ref, handle, new), in the order reached.
    order: Vec<(u32, Bound<'py, PyAny>, bool)>,
    /// Address → position in `order`.
    index: FxHashMap<usize, usize>,
    /// Per object in `order`: (label, address) of each reference it holds.
    edges: Vec<Vec<(String, usize)>>,
    /// What was still to visit when the cap was reached (handles refscope holds too).
    queue: VecDeque<(Bound<'py, PyAny>, u32)>,
    cut: bool,
}

impl<'py> Walk<'py> {
    fn new(py: Python<'py>, numbers: &mut Numbers, plan: &Plan, names: &Names<'py>) -> Walk<'py> {
        let mut w = Walk {
            order: Vec::new(),
            index: FxHashMap::default(),
            edges: Vec::new(),
            queue: names.iter().map(|(_, _, v)| (v.clone(), 0)).collect(),
            cut: false,
        };
        while let Some((o, depth)) = w.queue.pop_front() {
            let addr = o.as_ptr() as usize;
            if w.index.contains_key(&addr) {
                continue;
            }
            if w.order.len() >= plan.max_objects as usize {
                w.cut = true;
                break;
            }
            let (r, new) = numbers.object(&o);
            w.index.insert(addr, w.order.len());
            let children = if depth < plan.depth {
                values::children(py, &o, plan.max_objects as usize)
            } else {
                Vec::new()
            };
            let mut es = Vec::new();
            for (label, c) in children {
                es.push((label, c.as_ptr() as usize));
                w.queue.push_back((c, depth + 1));
            }
            w.edges.push(es);
            w.order.push((r, o, new));
        }
        w
    }
}

/// The objects of the walk as plain values. Counts leave out refscope's own references: the
/// handle in `order`, one per name, those still queued, and the locals copies.
fn objects(
    py: Python<'_>,
    walk: &Walk<'_>,
    names: &Names<'_>,
    locals_refs: &FxHashMap<usize, i64>,
    consts: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<Obj>> {
    let mut per_name: FxHashMap<usize, i64> = FxHashMap::default();
    for (_, _, v) in names {
        *per_name.entry(v.as_ptr() as usize).or_default() += 1;
    }
    let mut sizer = crate::objects::Sizer::new(py)?;
    let mut out = Vec::with_capacity(walk.order.len());
    for (i, (r, o, _)) in walk.order.iter().enumerate() {
        let p = o.as_ptr();
        let addr = p as usize;
        // SAFETY: `o` is a handle of ours, so the object is live; the GIL is held.
        let (immortal, counted, refcnt) = unsafe {
            (
                cpython::is_immortal(p),
                !cpython::never_freed(p),
                ffi::Py_REFCNT(p) as i64,
            )
        };
        let queued = walk.queue.iter().filter(|(q, _)| q.as_ptr() == p).count() as i64;
        let mine =
            1 + per_name.get(&addr).copied().unwrap_or(0) + locals_refs.get(&addr).copied().unwrap_or(0) + queued;
        let (type_name, value) = values::describe(py, o);
        let edges = walk.edges[i]
            .iter()
            .filter_map(|(label, a)| {
                walk.index.get(a).map(|&j| Edge {
                    label: label.clone(),
                    object: walk.order[j].0,
                })
            })
            .collect();
        out.push(Obj {
            reference: *r,
            id: addr as u64,
            hex: format!("{addr:#x}"),
            type_name,
            value,
            refcount: counted.then_some(refcnt - mine),
            immortal,
            // SAFETY: as above, `p` is live and the GIL is held.
            size: unsafe { sizer.size(py, p) },
            shared: values::shared_reason(py, o, consts),
            edges,
        });
    }
    Ok(out)
}
