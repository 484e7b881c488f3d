//! The step tracer behind `refscope explain`, in the worker: after each line of your code it
//! records the names of every frame of yours, the objects they reach (to a depth and a cap) and
//! what changed: objects created, names aliased, rebound or deleted, objects freed (and why),
//! cycles formed, GC runs, and what `is` and `==` on the line mean.
//!
//! It holds no reference between steps: objects are known by address while they live and
//! `cpython::frees` reports the moment each one dies, so a number (`ref`) never names two objects.
//!
//! A step is read by `snapshot` (the only part that walks the interpreter's objects) into a plain
//! state, compared with the one before by `diff` into structured changes, and logged; the report
//! words them.

mod compare;
mod diff;
mod snapshot;
mod values;

use crate::capture::Writer;
use crate::cpython::GilCell;
use crate::cpython::{self, frees};
use crate::record::explain::{Change, Limits, Plan, Step, STEP_CAP_EXIT};
use crate::record::{Record, FLAG_FINISHED, FLAG_TRUNCATED};
use crate::tracer::Filter;
use diff::{Diff, GcRun, Meanwhile};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rustc_hash::FxHashMap;
use snapshot::Numbers;

struct Pending {
    frame: usize,
    file: u32,
    line: u32,
    function: String,
    compares: Vec<Change>,
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
    numbers: Numbers,
    diff: Diff,
    /// The `-c` code, whose lines linecache does not know.
    code: Option<String>,
    /// Frees seen before a GC run started, and (generation, collected, uncollectable, freed) runs.
    freed_plain: Vec<usize>,
    gc_runs: Vec<(u64, u64, u64, Vec<usize>)>,
    gc_generation: u64,
}

static EXPLAINER: GilCell<Option<Explainer>> = GilCell::new(None);

/// Whether the step tracer is installed. GIL held.
pub fn active() -> bool {
    // SAFETY: the caller holds the GIL, and the borrow ends within this expression.
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
    // SAFETY: `py` proves the GIL is held, and nothing else borrows the cell: tracing and the gc
    // hook only start to see it once this statement is over.
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
            numbers: Numbers::new(),
            diff: Diff::default(),
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
    // SAFETY: `py` proves the GIL is held; the trace function is gone, and `take` ends the borrow
    // before anything can run Python code.
    if let Some(ex) = unsafe { EXPLAINER.get() }.take() {
        ex.out.set_flag(FLAG_FINISHED);
    }
}

#[pyfunction]
fn _explain_gc(phase: &str, info: &Bound<'_, PyDict>) {
    // SAFETY: gc callbacks run with the GIL held, and never while `_explain_trace` borrows the
    // explainer: it turns the collector off first.
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
    // SAFETY: a trace function runs with the GIL held and is never re-entered, and `user_file`
    // only reads attributes (no allocation that could start a collection, whose callback borrows
    // the cell); the borrow ends with it.
    let Some(file) = (unsafe { EXPLAINER.get() })
        .as_mut()
        .and_then(|ex| ex.user_file(&frame))
    else {
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
    // SAFETY: the GIL is held, the earlier borrow is over, and with the collector off no gc
    // callback borrows the cell while this one lives.
    let result = match unsafe { EXPLAINER.get() }.as_mut() {
        Some(ex) => ex
            .on_event(py, &frame, event, key, file)
            .map(|()| ex.trace.as_ref().map(|t| t.clone_ref(py)).unwrap_or_else(|| py.None())),
        None => Ok(py.None()),
    };
    if enabled {
        gc.call_method0("enable")?;
    }
    result
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
                ex.numbers.frame(key);
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
                ex.numbers.frame_ended(key);
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

impl Explainer {
    fn user_file(&mut self, frame: &Bound<'_, PyAny>) -> Option<u32> {
        let code = frame.getattr("f_code").ok()?;
        if code.as_ptr() as usize == self.bootstrap {
            return None;
        }
        let filename: String = code.getattr("co_filename").ok()?.extract().ok()?;
        if !self.filter.own_code(&filename, code.as_ptr() as usize) {
            return None;
        }
        if let Some(f) = self.files.get(&filename) {
            return *f;
        }
        let id = self.filter.wants(&filename).then_some(self.files.len() as u32);
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
                return Ok((line as usize)
                    .checked_sub(1)
                    .and_then(|i| code.lines().nth(i))
                    .unwrap_or("")
                    .trim_end()
                    .to_string());
            }
            let text: String = py
                .import("linecache")?
                .call_method1("getline", (filename, line))?
                .extract()?;
            Ok(text.trim_end().to_string())
        };
        get().unwrap_or_default()
    }

    /// Finishes the pending step: the state now, and what changed since the last step.
    fn step(&mut self, py: Python<'_>, frame: &Bound<'_, PyAny>, p: Pending) -> PyResult<()> {
        let mut freed = std::mem::take(&mut self.freed_plain);
        freed.extend(frees::take_freed());
        let gc_runs = std::mem::take(&mut self.gc_runs);
        let chain = self.user_frames(frame)?;
        let state = snapshot::take(py, &mut self.numbers, &self.plan, frame, &chain)?;
        let source = self.source(py, frame, p.line);
        // Known by address until now: freed objects that were shown, by their refs.
        let meanwhile = Meanwhile {
            freed: self.numbers.freed(&freed),
            gc_runs: gc_runs
                .into_iter()
                .map(|(generation, collected, uncollectable, freed)| GcRun {
                    generation,
                    collected,
                    uncollectable,
                    freed: self.numbers.freed(&freed),
                })
                .collect(),
            collect_called: source.contains("collect("),
        };
        let mut events = self.diff.step(&state, &meanwhile);
        events.extend(p.compares);
        self.steps += 1;
        let step = Step {
            index: self.steps,
            file: p.file,
            line: p.line,
            source: source.trim().to_string(),
            function: p.function,
            frames: state.frames,
            objects: state.objects,
            events,
            objects_cut: state.objects_cut,
        };
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

    /// Your frames from `frame` out, outermost first (comprehensions are part of their line).
    fn user_frames<'py>(&mut self, frame: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
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
        Ok(chain)
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
        // SAFETY: `_exit` only ends the process; what was measured is already in the shared capture.
        unsafe { libc::_exit(STEP_CAP_EXIT) };
    }
}
