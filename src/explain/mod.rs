//! The step tracer behind `refscope explain`, in the worker: after each line of your code it
//! records the names of every frame of yours, the objects they reach (to a depth and a cap) and
//! what changed: objects created, names aliased, rebound or deleted, objects freed (and why),
//! cycles formed, GC runs, and what `is` and `==` on the line mean.
//!
//! It holds no reference between steps: objects are known by address while they live and
//! `cpython::frees` reports the moment each one dies, so a number (`ref`) never names two objects.

mod compare;
mod values;

use crate::capture::Writer;
use crate::cpython::GilCell;
use crate::cpython::{self, frees};
use crate::record::explain::{Binding, Edge, Event, FrameState, Limits, Obj, Plan, Step, STEP_CAP_EXIT};
use crate::record::{Record, FLAG_FINISHED, FLAG_TRUNCATED};
use crate::tracer::Filter;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rustc_hash::{FxHashMap, FxHashSet};

struct Pending {
    frame: usize,
    file: u32,
    line: u32,
    function: String,
    compares: Vec<Event>,
}

/// What is remembered of an object between steps (no reference to it).
struct Known {
    type_name: String,
    value: String,
}

struct Explainer {
    out: Writer,
    /// refscope's bootstrap code (`python -c`), never one of your frames.
    bootstrap: usize,
    filter: Filter,
    plan: Plan,
    trace: Option<Py<PyAny>>,
    files: FxHashMap<String, Option<u32>>,
    steps: u32,
    /// Line events merged into the step before (a one-line loop).
    repeats: u64,
    pending: Option<Pending>,
    /// Address of a live object → its ref.
    refs: FxHashMap<usize, u32>,
    known: FxHashMap<u32, Known>,
    next_ref: u32,
    frames: FxHashMap<usize, u32>,
    frame_names: FxHashMap<u32, String>,
    next_frame: u32,
    prev: Vec<(u32, String, u32)>,
    prev_frames: Vec<u32>,
    prev_cycles: FxHashSet<u32>,
    prev_edges: FxHashSet<(u32, String, u32)>,
    /// The `-c` code, whose lines linecache does not know.
    code: Option<String>,
    /// Frees seen before a GC run started, and (generation, collected, uncollectable, freed) runs.
    freed_plain: Vec<usize>,
    gc_runs: Vec<(u64, u64, u64, Vec<usize>)>,
    gc_generation: u64,
}

static EXPLAINER: GilCell<Option<Explainer>> = GilCell::new(None);

pub fn active() -> bool {
    unsafe { EXPLAINER.get() }.is_some()
}

/// Starts explaining: from now on every line of your code on the main thread is a step.
pub fn install(
    py: Python<'_>,
    mut out: Writer,
    filter: Filter,
    plan: Plan,
    bootstrap: usize,
    code: Option<String>,
) -> PyResult<()> {
    out.log(&Record::ExplainLimits {
        limits: Limits {
            max_steps: plan.max_steps,
            max_objects: plan.max_objects,
            depth: plan.depth,
            steps_cut: false,
        },
    });
    let trace = wrap_pyfunction!(_explain_trace, py)?.into_any().unbind();
    let gc_hook = wrap_pyfunction!(_explain_gc, py)?;
    py.import("gc")?
        .getattr("callbacks")?
        .call_method1("append", (gc_hook,))?;
    frees::start();
    unsafe {
        *EXPLAINER.get() = Some(Explainer {
            out,
            bootstrap,
            filter,
            plan,
            trace: Some(trace.clone_ref(py)),
            files: FxHashMap::default(),
            steps: 0,
            repeats: 0,
            pending: None,
            refs: FxHashMap::default(),
            known: FxHashMap::default(),
            next_ref: 1,
            frames: FxHashMap::default(),
            frame_names: FxHashMap::default(),
            next_frame: 1,
            prev: Vec::new(),
            prev_frames: Vec::new(),
            prev_cycles: FxHashSet::default(),
            prev_edges: FxHashSet::default(),
            code,
            freed_plain: Vec::new(),
            gc_runs: Vec::new(),
            gc_generation: 0,
        })
    };
    // What the step tracer itself imports (linecache reads files through tokenize) is imported
    // now, and its garbage collected, so the program's own `gc.collect()` counts only its own.
    for m in ["linecache", "tokenize"] {
        py.import(m)?;
    }
    py.import("gc")?.call_method0("collect")?;
    py.import("sys")?.call_method1("settrace", (trace,))?;
    Ok(())
}

/// At interpreter exit: the last step is already out; stop watching and mark the run finished.
pub fn finish(py: Python<'_>) {
    let _ = py.import("sys").and_then(|s| s.call_method1("settrace", (py.None(),)));
    frees::stop();
    if let Some(ex) = unsafe { EXPLAINER.get() }.take() {
        ex.out.set_flag(FLAG_FINISHED);
    }
}

#[pyfunction]
fn _explain_gc(phase: &str, info: &Bound<'_, PyDict>) {
    let Some(ex) = (unsafe { EXPLAINER.get() }).as_mut() else {
        return;
    };
    let item = |k: &str| {
        info.get_item(k)
            .ok()
            .flatten()
            .and_then(|v| v.extract::<u64>().ok())
            .unwrap_or(0)
    };
    if phase == "start" {
        ex.freed_plain.extend(frees::take_freed());
        ex.gc_generation = item("generation");
    } else {
        let freed = frees::take_freed();
        ex.gc_runs
            .push((ex.gc_generation, item("collected"), item("uncollectable"), freed));
    }
}

#[pyfunction]
fn _explain_trace(py: Python<'_>, frame: Bound<'_, PyAny>, event: &str, arg: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let _ = arg;
    let Some(ex) = (unsafe { EXPLAINER.get() }).as_mut() else {
        return Ok(py.None());
    };
    let Some(file) = ex.user_file(&frame) else {
        return Ok(py.None());
    };
    if event == "call" && comprehension(&frame) {
        // Part of its line (3.12+ inlines them): its iterations are not steps of their own.
        return Ok(py.None());
    }
    let key = frame.as_ptr() as usize;
    // No collection runs inside refscope's own work (its allocations are not the program's).
    let gc = py.import("gc")?;
    let enabled: bool = gc.call_method0("isenabled")?.extract()?;
    if enabled {
        gc.call_method0("disable")?;
    }
    let result = ex.on_event(py, &frame, event, key, file);
    if enabled {
        gc.call_method0("enable")?;
    }
    result?;
    Ok(ex.trace.as_ref().map(|t| t.clone_ref(py)).unwrap_or_else(|| py.None()))
}

impl Explainer {
    fn on_event(
        &mut self,
        py: Python<'_>,
        frame: &Bound<'_, PyAny>,
        event: &str,
        key: usize,
        file: u32,
    ) -> PyResult<()> {
        let ex = self;
        if event == "line" {
            // A one-line loop jumps back to its own line: one step, not one per iteration.
            let line: u32 = frame.getattr("f_lineno")?.extract()?;
            if ex.pending.as_ref().is_some_and(|p| p.frame == key && p.line == line) {
                // Still bounded: a one-line endless loop meets the cap (100 iterations per step).
                ex.repeats += 1;
                if ex.repeats >= 100 * u64::from(ex.plan.max_steps) {
                    ex.stop_at_cap(py);
                }
                return Ok(());
            }
        }
        if let Some(p) = ex.pending.take() {
            ex.step(py, frame, p)?;
        }
        match event {
            "call" => {
                // The step just finished may already have numbered this frame.
                if !ex.frames.contains_key(&key) {
                    let id = ex.next_frame;
                    ex.next_frame += 1;
                    ex.frames.insert(key, id);
                }
            }
            "line" => {
                let line: u32 = frame.getattr("f_lineno")?.extract()?;
                let code = frame.getattr("f_code")?;
                let function: String = code.getattr(cpython::QUALNAME)?.extract()?;
                let source = ex.source(py, frame, line);
                let compares = compare::on_line(py, frame, &source);
                ex.pending = Some(Pending {
                    frame: key,
                    file,
                    line,
                    function,
                    compares,
                });
            }
            "return" => {
                ex.frames.remove(&key);
                // The caller's line goes on (`x = f()` binds after the return): it is the next step.
                if let Ok(back) = frame.getattr("f_back") {
                    if !back.is_none() {
                        if let Some(f) = ex.user_file(&back) {
                            let line: u32 = back.getattr("f_lineno")?.extract()?;
                            let function: String = back.getattr("f_code")?.getattr(cpython::QUALNAME)?.extract()?;
                            ex.pending = Some(Pending {
                                frame: back.as_ptr() as usize,
                                file: f,
                                line,
                                function,
                                compares: Vec::new(),
                            });
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn comprehension(frame: &Bound<'_, PyAny>) -> bool {
    let name: String = frame
        .getattr("f_code")
        .and_then(|c| c.getattr("co_name"))
        .and_then(|n| n.extract())
        .unwrap_or_default();
    matches!(name.as_str(), "<listcomp>" | "<dictcomp>" | "<setcomp>" | "<genexpr>")
}

fn qualname(code: &Bound<'_, PyAny>) -> String {
    code.getattr(cpython::QUALNAME)
        .and_then(|n| n.extract())
        .unwrap_or_default()
}

impl Explainer {
    fn user_file(&mut self, frame: &Bound<'_, PyAny>) -> Option<u32> {
        let code = frame.getattr("f_code").ok()?;
        if code.as_ptr() as usize == self.bootstrap {
            return None;
        }
        let filename: String = code.getattr("co_filename").ok()?.extract().ok()?;
        if let Some(f) = self.files.get(&filename) {
            return *f;
        }
        let id = self.filter.wants(&filename).then(|| self.files.len() as u32);
        if let Some(id) = id {
            self.out.log(&Record::File {
                id,
                path: self.filter.absolute(&filename),
            });
        }
        self.files.insert(filename, id);
        id
    }

    fn source(&self, py: Python<'_>, frame: &Bound<'_, PyAny>, line: u32) -> String {
        let get = || -> PyResult<String> {
            let filename = frame.getattr("f_code")?.getattr("co_filename")?;
            if let Some(code) = self.code.as_ref().filter(|_| filename.eq("<string>").unwrap_or(false)) {
                return Ok(code.lines().nth(line as usize - 1).unwrap_or("").trim_end().to_string());
            }
            let text: String = py
                .import("linecache")?
                .call_method1("getline", (filename, line))?
                .extract()?;
            Ok(text.trim_end().to_string())
        };
        get().unwrap_or_default()
    }

    /// The ref of a live object, watching it the first time; None when it cannot be watched.
    fn reference(&mut self, o: &Bound<'_, PyAny>) -> (u32, bool) {
        let addr = o.as_ptr() as usize;
        if let Some(&r) = self.refs.get(&addr) {
            return (r, false);
        }
        let r = self.next_ref;
        self.next_ref += 1;
        // Immortal objects never die; others are watched so that their address is forgotten then.
        if unsafe { cpython::never_freed(o.as_ptr()) || frees::watch(o.as_ptr()) } {
            self.refs.insert(addr, r);
        }
        (r, true)
    }

    /// Finishes the pending step: the state now, and what changed since the last step.
    fn step(&mut self, py: Python<'_>, frame: &Bound<'_, PyAny>, p: Pending) -> PyResult<()> {
        let mut events = Vec::new();
        let mut freed_plain = std::mem::take(&mut self.freed_plain);
        freed_plain.extend(frees::take_freed());
        let gc_runs = std::mem::take(&mut self.gc_runs);

        // Frames of yours, outermost first.
        let mut chain = Vec::new();
        let mut f = frame.clone();
        loop {
            if self.user_file(&f).is_some() && !comprehension(&f) {
                chain.push(f.clone());
            }
            let back = f.getattr("f_back")?;
            if back.is_none() {
                break;
            }
            f = back;
        }
        chain.reverse();

        // Names of every frame, with a handle per binding (counted as refscope's own below).
        let mut handles: Vec<Bound<'_, PyAny>> = Vec::new();
        let mut frames = Vec::new();
        let mut locals_refs: FxHashMap<usize, i64> = FxHashMap::default();
        let mut bindings: Vec<(u32, String, Bound<'_, PyAny>)> = Vec::new();
        for fr in &chain {
            let key = fr.as_ptr() as usize;
            let id = *self.frames.entry(key).or_insert_with(|| {
                let id = self.next_frame;
                self.next_frame += 1;
                id
            });
            let code = fr.getattr("f_code")?;
            let name = qualname(&code);
            self.frame_names.insert(id, name.clone());
            let globals = fr.getattr("f_globals")?;
            let module_level = fr.getattr("f_locals").map(|l| l.is(&globals)).unwrap_or(false);
            let names: Vec<(String, Bound<'_, PyAny>)> = if module_level {
                globals
                    .cast::<PyDict>()?
                    .iter()
                    .filter_map(|(k, v)| Some((k.extract::<String>().ok()?, v)))
                    .collect()
            } else {
                let locals = cpython::frame_locals(fr).unwrap_or_else(|| PyDict::new(py).into_any());
                // References that exist only because refscope is looking.
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
                    .filter_map(|kv| kv.extract::<(String, Bound<'_, PyAny>)>().ok())
                    .collect()
            };
            let mut bs = Vec::new();
            for (n, v) in names {
                if n.starts_with("__") && n.ends_with("__") || v.is_instance_of::<pyo3::types::PyModule>() {
                    continue;
                }
                bs.push((n, v));
            }
            let line: u32 = fr.getattr("f_lineno")?.extract().unwrap_or(0);
            frames.push((id, name, line));
            for (n, v) in bs {
                bindings.push((id, n, v));
            }
        }

        // Objects reached from the names, breadth first, to the depth and the cap.
        let mut order: Vec<(u32, Bound<'_, PyAny>, bool)> = Vec::new();
        let mut index: FxHashMap<usize, usize> = FxHashMap::default();
        let mut queue: std::collections::VecDeque<(Bound<'_, PyAny>, u32)> = Default::default();
        for (_, _, v) in &bindings {
            queue.push_back((v.clone(), 0));
        }
        let mut cut = false;
        let mut edges_of: Vec<Vec<(String, usize)>> = Vec::new();
        while let Some((o, depth)) = queue.pop_front() {
            let addr = o.as_ptr() as usize;
            if index.contains_key(&addr) {
                continue;
            }
            if order.len() >= self.plan.max_objects as usize {
                cut = true;
                break;
            }
            let (r, new) = self.reference(&o);
            index.insert(addr, order.len());
            let children = if depth < self.plan.depth {
                values::children(py, &o, self.plan.max_objects as usize)
            } else {
                Vec::new()
            };
            let mut es = Vec::new();
            for (label, c) in children {
                es.push((label, c.as_ptr() as usize));
                queue.push_back((c, depth + 1));
            }
            edges_of.push(es);
            order.push((r, o, new));
        }

        // Reference counts, with refscope's own references taken out: one handle per object in
        // `order`, one per binding, and the locals copies above.
        let mut per_binding: FxHashMap<usize, i64> = FxHashMap::default();
        for (_, _, v) in &bindings {
            *per_binding.entry(v.as_ptr() as usize).or_default() += 1;
        }
        let code = frame.getattr("f_code")?;
        let consts = code.getattr("co_consts").ok();
        let mut sizer = crate::objects::Sizer::new(py)?;
        let mut objects = Vec::new();
        for (i, (r, o, _)) in order.iter().enumerate() {
            let p = o.as_ptr();
            let addr = p as usize;
            let immortal = unsafe { cpython::is_immortal(p) };
            let counted = !unsafe { cpython::never_freed(p) };
            let queued = queue.iter().filter(|(q, _)| q.as_ptr() == p).count() as i64;
            let mine = 1
                + per_binding.get(&addr).copied().unwrap_or(0)
                + locals_refs.get(&addr).copied().unwrap_or(0)
                + queued;
            let count = unsafe { ffi::Py_REFCNT(p) } as i64 - mine;
            let (type_name, value) = values::describe(py, o);
            self.known.insert(
                *r,
                Known {
                    type_name: type_name.clone(),
                    value: value.clone(),
                },
            );
            let edges = edges_of[i]
                .iter()
                .filter_map(|(label, a)| {
                    index.get(a).map(|&j| Edge {
                        label: label.clone(),
                        object: order[j].0,
                    })
                })
                .collect();
            objects.push(Obj {
                reference: *r,
                id: addr as u64,
                hex: format!("{addr:#x}"),
                type_name,
                value,
                refcount: counted.then_some(count),
                immortal,
                size: unsafe { sizer.size(py, p) },
                shared: values::shared_reason(py, o, consts.as_ref()),
                edges,
            });
            handles.push(o.clone());
        }
        drop(queue);

        // What changed.
        let cur: Vec<(u32, String, u32)> = bindings
            .iter()
            .filter_map(|(f, n, v)| index.get(&(v.as_ptr() as usize)).map(|&j| (*f, n.clone(), order[j].0)))
            .collect();
        let frame_ids: Vec<u32> = frames.iter().map(|f| f.0).collect();
        for (id, name, _) in &frames {
            if !self.prev_frames.contains(id) && self.steps > 0 || (self.steps == 0 && *id != frame_ids[0]) {
                events.push(Event {
                    kind: "call".into(),
                    text: format!("{name}() is called: a new frame with its own names"),
                    names: vec![],
                    object: None,
                });
            }
        }
        for id in &self.prev_frames {
            if !frame_ids.contains(id) {
                let name = self.frame_names.get(id).cloned().unwrap_or_default();
                events.push(Event {
                    kind: "return".into(),
                    text: format!("{name}() returned: its frame and its names are gone"),
                    names: vec![],
                    object: None,
                });
            }
        }
        let new_refs: FxHashSet<u32> = order.iter().filter(|x| x.2).map(|x| x.0).collect();
        let obj_of = |r: u32| objects.iter().find(|o: &&Obj| o.reference == r);
        for (i, (f, name, r)) in cur.iter().enumerate() {
            let before = self.prev.iter().find(|(pf, pn, _)| pf == f && pn == name).map(|x| x.2);
            if before == Some(*r) {
                continue;
            }
            // Names that already had this object: bound before this step, or earlier on this line.
            let unchanged = |(of, on, or): &(u32, String, u32)| {
                self.prev.iter().any(|(pf, pn, pr)| pf == of && pn == on && pr == or)
            };
            let others: Vec<String> = cur
                .iter()
                .enumerate()
                .filter(|(j, c)| c.2 == *r && *j != i && (unchanged(c) || *j < i))
                .map(|(_, c)| c.1.clone())
                .collect();
            let o = obj_of(*r);
            let what = o.map(|o| format!("{} {}", o.type_name, o.value)).unwrap_or_default();
            let shared = o.and_then(|o| o.shared.clone());
            let was = before
                .and_then(|b| self.known.get(&b))
                .map(|k| format!(" (was {} {})", k.type_name, k.value))
                .unwrap_or_default();
            let (kind, mut text) = if !others.is_empty() {
                (
                    "aliased",
                    format!(
                        "{name} is {}: one object, {} names{was}",
                        others.join(", "),
                        others.len() + 1
                    ),
                )
            } else if new_refs.contains(r) && shared.is_none() {
                ("created", format!("{name} → new {what}{was}"))
            } else {
                ("bound", format!("{name} → {what}{was}"))
            };
            let kind = if before.is_some() && kind != "aliased" {
                "rebound"
            } else {
                kind
            };
            match (&shared, kind) {
                (Some(s), "aliased") => text.push_str(&format!(" — why one object: {s}")),
                (Some(s), _) => text.push_str(&format!(" (an existing object: {})", s.split(':').next().unwrap_or(s))),
                _ => {}
            }
            let mut names = vec![name.clone()];
            names.extend(others);
            events.push(Event {
                kind: kind.into(),
                text,
                names,
                object: Some(*r),
            });
        }
        let freed_now: FxHashSet<u32> = freed_plain
            .iter()
            .chain(gc_runs.iter().flat_map(|g| g.3.iter()))
            .filter_map(|a| self.refs.get(a).copied())
            .collect();
        for (f, name, r) in &self.prev {
            if frame_ids.contains(f) && !cur.iter().any(|(cf, cn, _)| cf == f && cn == name) {
                let alive = !freed_now.contains(r);
                let rest = if alive {
                    let others: Vec<&str> = cur.iter().filter(|c| c.2 == *r).map(|c| c.1.as_str()).collect();
                    if others.is_empty() && self.prev_cycles.contains(r) {
                        " (the object lives on: it refers to itself through a cycle)".to_string()
                    } else if others.is_empty() {
                        " (the object is still referenced elsewhere)".to_string()
                    } else {
                        format!(" (the object lives on: {} still names it)", others.join(", "))
                    }
                } else {
                    String::new()
                };
                events.push(Event {
                    kind: "deleted".into(),
                    text: format!("name {name} removed{rest}"),
                    names: vec![name.clone()],
                    object: Some(*r),
                });
            }
        }
        for a in freed_plain {
            self.freed_event(a, false, &mut events);
        }
        let explicit = self.source(py, frame, p.line).contains("collect(");
        for (generation, collected, uncollectable, freed) in &gc_runs {
            let shown = freed.iter().filter(|a| self.refs.contains_key(a)).count();
            // Automatic collections that free nothing in the picture are left out.
            if shown == 0 && !explicit {
                continue;
            }
            events.push(Event {
                kind: "gc".into(),
                text: format!(
                    "the GC ran (generation {generation}): {collected} objects collected{}{}",
                    if *uncollectable > 0 {
                        format!(", {uncollectable} uncollectable")
                    } else {
                        String::new()
                    },
                    if shown > 0 {
                        format!(", {shown} of them shown here")
                    } else {
                        String::new()
                    }
                ),
                names: vec![],
                object: None,
            });
            for &a in freed {
                self.freed_event(a, true, &mut events);
            }
        }
        let edges: FxHashSet<(u32, String, u32)> = objects
            .iter()
            .flat_map(|o| o.edges.iter().map(move |e| (o.reference, e.label.clone(), e.object)))
            .collect();
        let label_of = |r: u32| {
            let names: Vec<&str> = cur.iter().filter(|c| c.2 == r).map(|c| c.1.as_str()).collect();
            if names.is_empty() {
                obj_of(r)
                    .map(|o| format!("{} {}", o.type_name, o.hex))
                    .unwrap_or_default()
            } else {
                names.join("/")
            }
        };
        for (from, label, to) in &edges {
            if self.prev_edges.contains(&(*from, label.clone(), *to)) || new_refs.contains(from) {
                continue;
            }
            if let Some(t) = obj_of(*to) {
                let refs = t.refcount.map(|n| format!(" (now {n} references)")).unwrap_or_default();
                events.push(Event {
                    kind: "referenced".into(),
                    text: format!("{}{label} → {} {}{refs}", label_of(*from), t.type_name, label_of(*to)),
                    names: vec![],
                    object: Some(*to),
                });
            }
        }
        self.prev_edges = edges;
        let cycles = cycle_members(&objects);
        let mut told: FxHashSet<u32> = FxHashSet::default();
        for o in &objects {
            if cycles.contains(&o.reference) && !self.prev_cycles.contains(&o.reference) && !told.contains(&o.reference)
            {
                if let Some((path, members)) = cycle_path(&objects, o.reference) {
                    told.extend(members);
                    events.push(Event {
                        kind: "cycle".into(),
                        text: format!("cycle formed: {path}: reference counting alone will never free it; the GC will"),
                        names: vec![],
                        object: Some(o.reference),
                    });
                }
            }
        }
        events.extend(p.compares);

        self.prev = cur.clone();
        self.prev_frames = frame_ids;
        self.prev_cycles = cycles;
        self.steps += 1;
        let step = Step {
            index: self.steps,
            file: p.file,
            line: p.line,
            source: self.source(py, frame, p.line).trim().to_string(),
            function: p.function,
            frames: frames
                .into_iter()
                .map(|(id, function, line)| FrameState {
                    id,
                    function,
                    line,
                    bindings: cur
                        .iter()
                        .filter(|c| c.0 == id)
                        .map(|c| Binding {
                            name: c.1.clone(),
                            object: c.2,
                        })
                        .collect(),
                })
                .collect(),
            objects,
            events,
            objects_cut: cut,
        };
        drop(handles);
        drop(order);
        drop(bindings);
        self.out.log(&Record::Step { step });
        // Room is kept for the notice: a program with large steps stops before the log is full.
        if self.out.log_room() < 1 << 20 {
            self.out.set_flag(FLAG_TRUNCATED);
            self.stop_at_cap(py);
        }
        if self.steps >= self.plan.max_steps {
            self.stop_at_cap(py);
        }
        Ok(())
    }

    fn freed_event(&mut self, addr: usize, gc: bool, events: &mut Vec<Event>) {
        let Some(r) = self.refs.remove(&addr) else { return };
        let k = self.known.get(&r);
        let what = k
            .map(|k| format!("{} {}", k.type_name, k.value))
            .unwrap_or_else(|| "an object".into());
        let names: Vec<String> = self.prev.iter().filter(|p| p.2 == r).map(|p| p.1.clone()).collect();
        let was = if names.is_empty() {
            String::new()
        } else {
            format!(" (was {})", names.join(", "))
        };
        let why = if gc {
            "collected by the GC as part of a cycle"
        } else {
            "its last reference went away at this line"
        };
        events.push(Event {
            kind: "freed".into(),
            text: format!("{what}{was} freed: {why}"),
            names,
            object: Some(r),
        });
    }

    fn stop_at_cap(&mut self, py: Python<'_>) {
        self.out.log(&Record::ExplainLimits {
            limits: Limits {
                max_steps: self.plan.max_steps,
                max_objects: self.plan.max_objects,
                depth: self.plan.depth,
                steps_cut: true,
            },
        });
        if let Ok(sys) = py.import("sys") {
            for s in ["stdout", "stderr"] {
                let _ = sys.getattr(s).and_then(|s| s.call_method0("flush"));
            }
        }
        self.out.set_flag(FLAG_FINISHED);
        unsafe { libc::_exit(STEP_CAP_EXIT) };
    }
}

/// Objects on a cycle among the drawn references (a strongly connected part, or a self-loop).
fn cycle_members(objects: &[Obj]) -> FxHashSet<u32> {
    let at: FxHashMap<u32, usize> = objects.iter().enumerate().map(|(i, o)| (o.reference, i)).collect();
    let mut out = FxHashSet::default();
    for (i, o) in objects.iter().enumerate() {
        // Reachable from o's children back to o?
        let mut seen = vec![false; objects.len()];
        let mut stack: Vec<usize> = o.edges.iter().filter_map(|e| at.get(&e.object).copied()).collect();
        while let Some(j) = stack.pop() {
            if j == i {
                out.insert(o.reference);
                break;
            }
            if std::mem::replace(&mut seen[j], true) {
                continue;
            }
            stack.extend(objects[j].edges.iter().filter_map(|e| at.get(&e.object).copied()));
        }
    }
    out
}

/// `list 0x… → [0] → itself`, or through other objects, and the objects on the way.
fn cycle_path(objects: &[Obj], start: u32) -> Option<(String, Vec<u32>)> {
    let at: FxHashMap<u32, usize> = objects.iter().enumerate().map(|(i, o)| (o.reference, i)).collect();
    let mut prev: FxHashMap<u32, (u32, String)> = FxHashMap::default();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen = FxHashSet::default();
    while let Some(r) = queue.pop_front() {
        let o = &objects[*at.get(&r)?];
        for e in &o.edges {
            if e.object == start {
                let mut hops = vec![e.label.clone()];
                let mut members = vec![start];
                let mut cur = r;
                while cur != start {
                    let (p, label) = prev.get(&cur)?.clone();
                    hops.push(format!("{} {}", label, objects[at[&cur]].type_name));
                    members.push(cur);
                    cur = p;
                }
                hops.reverse();
                let first = &objects[at[&start]];
                let text = format!("{} {} → {} → itself", first.type_name, first.hex, hops.join(" → "));
                return Some((text, members));
            }
            if at.contains_key(&e.object) && seen.insert(e.object) {
                prev.insert(e.object, (r, e.label.clone()));
                queue.push_back(e.object);
            }
        }
    }
    None
}
