//! Measuring a block of the caller's own process (`refscope.trace()`, the notebook magics): the
//! worker's tracer and allocator hooks, installed around the block, write a capture of their own
//! that is read back when the block ends. One block at a time per process.

use super::{code_mark, code_tree, filter, measure, process, profile, start_clock, start_record};
use crate::capture::{Reader, RunDir, Writer};
use crate::clock::{self, Calibration};
use crate::cpython::GilCell;
use crate::profiler::{Profiler, PROFILER};
use crate::record::{Capture, Origin, Sample, FLAG_FINISHED};
use crate::site::Pause;
use crate::tracer::{with_thread, Tracer, TRACER};
use crate::{cpython, memory};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to measure.
pub struct Plan {
    /// Directories whose files are yours (as a script's directory is for `run`).
    pub roots: Vec<PathBuf>,
    /// File names traced whatever their place (`<string>`, a cell's name).
    pub exact: Vec<String>,
    pub include: Vec<String>,
    pub all: bool,
    pub memory: bool,
    /// A code object traced with everything nested in it, whatever its file (a cell's code).
    pub code: Option<Py<PyAny>>,
    /// Calls (`refscope profile`'s profiler) rather than lines.
    pub calls: bool,
}

/// A block being measured.
pub struct Session {
    dir: RunDir,
    live: Arc<memmap2::Mmap>,
    stop: Arc<AtomicBool>,
    sampler: Option<std::thread::JoinHandle<Vec<Sample>>>,
    started: Instant,
    a: (u64, u64),
}

/// What the block did, as the launcher reads a worker's run.
pub struct Measured {
    pub capture: Capture,
    pub calibration: Calibration,
    pub end_ticks: u64,
    pub wall_ns: u64,
    pub timeline: Vec<Sample>,
}

/// Whether the fork handler is registered (once per process: it cannot be taken back).
static FORK_HANDLER: GilCell<bool> = GilCell::new(false);

/// Starts measuring: from here on, lines of your code and allocations are counted.
pub fn start(py: Python<'_>, plan: Plan) -> PyResult<Session> {
    // SAFETY: GIL held; only read.
    if unsafe { TRACER.get() }.is_some() || unsafe { PROFILER.get() }.is_some() || crate::explain::active() {
        return Err(PyRuntimeError::new_err(
            "refscope is already measuring this process: one block at a time",
        ));
    }
    let sys = py.import("sys")?;
    // Python 3.9 to 3.11 have one trace hook per thread: taking it would blind a debugger or coverage.
    let hook = if plan.calls { "getprofile" } else { "gettrace" };
    if !cfg!(Py_3_12) && !sys.call_method0(hook)?.is_none() {
        return Err(PyRuntimeError::new_err(
            "another trace or profile function is set (a debugger, coverage, cProfile): refscope cannot measure alongside it on Python < 3.12",
        ));
    }
    let dir = RunDir::new()?;
    let (path, file) = dir.capture("block")?;
    // SAFETY: read-only; the writer below maps the same file to write it.
    let live = Arc::new(unsafe { memmap2::Mmap::map(&file) }.map_err(crate::capture::map_error)?);
    let mut out = Writer::open(&path.display().to_string())
        .map_err(|e| PyRuntimeError::new_err(format!("cannot open capture file: {e}")))?;
    out.log(&start_record(&sys, plan.calls)?);
    out.log(&process(Origin::Main));
    let cwd = std::env::current_dir().map_err(|_| crate::error::Error::NoCwd)?;
    let mut filter = filter(
        py,
        &cwd.display().to_string(),
        plan.roots,
        &plan.include,
        plan.exact,
        plan.all,
    )?;
    if let Some(code) = &plan.code {
        filter.set_programs(code_tree(py, code.bind(py))?);
    }
    let mark = code_mark(py)?;
    // SAFETY: GIL held; nothing else borrows FORK_HANDLER.
    let registered = unsafe { FORK_HANDLER.get() };
    if !*registered {
        // A fork inside the block must not write into this process's capture.
        let kw = pyo3::types::PyDict::new(py);
        kw.set_item("after_in_child", wrap_pyfunction!(super::_forked, py)?)?;
        py.import("os")?.getattr("register_at_fork")?.call((), Some(&kw))?;
        *registered = true;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (live, stop) = (live.clone(), stop.clone());
        std::thread::Builder::new()
            .name("refscope-sampler".into())
            .spawn(move || {
                // SAFETY: the mapping is FILE_SIZE bytes, page aligned, and starts with the header.
                let header = unsafe { &*(live.as_ptr() as *const crate::capture::Header) };
                let mut s = memory::rss::Sampler::new(std::process::id());
                while !stop.load(Ordering::Relaxed) {
                    s.poll(header);
                    std::thread::sleep(s.interval().min(Duration::from_millis(5)));
                }
                s.samples
            })
            .ok()
    };
    // Cyclic garbage of the caller's making is not the block's (its `gc.collect()` would count it).
    py.import("gc")?.call_method0("collect")?;
    let a = (clock::ticks(), clock::monotonic_ns());
    let started = Instant::now();
    if plan.calls {
        profile(py, Profiler::new(out, filter, mark), plan.memory);
    } else {
        measure(py, Tracer::new(out, filter, mark), plan.memory);
    }
    start_clock();
    Ok(Session {
        dir,
        live,
        stop,
        sampler,
        started,
        a,
    })
}

/// Stops measuring and reads back what the block did.
pub fn stop(py: Python<'_>, s: Session) -> Measured {
    let t = clock::ticks();
    {
        let _pause = Pause::new();
        // SAFETY: GIL held; taken before uninstalling, so what that runs is not profiled.
        if let Some(mut p) = unsafe { PROFILER.get() }.take() {
            if cpython::uninstall_calls(py) == cpython::Handover::Replaced {
                p.lost(super::LOST_PROFILE_HOOK, t);
            } else {
                p.close_all(t);
            }
            p.log_spans();
            memory::finish(py, p.writer_mut());
            p.writer().header().end_ticks.store(t, Ordering::Relaxed);
            p.writer().set_flag(FLAG_FINISHED);
        }
        let handover = cpython::uninstall(py);
        // SAFETY: GIL held, and the tracer is uninstalled: nothing else borrows TRACER.
        if let Some(mut tr) = unsafe { TRACER.get() }.take() {
            if handover == cpython::Handover::Replaced {
                with_thread(t, |ts| tr.lost(ts, super::LOST_HOOK));
            } else {
                with_thread(t, |ts| tr.close_all(ts, t));
            }
            memory::finish(py, tr.writer_mut());
            let h = tr.writer().header();
            h.end_ticks.store(t, Ordering::Relaxed);
            tr.writer().set_flag(FLAG_FINISHED);
        }
    }
    s.stop.store(true, Ordering::Relaxed);
    let timeline = s.sampler.and_then(|h| h.join().ok()).unwrap_or_default();
    let wall_ns = s.started.elapsed().as_nanos() as u64;
    let b = (clock::ticks(), clock::monotonic_ns());
    let kind = clock::kind();
    let calibration = if b.1 - s.a.1 > 5_000_000 {
        Calibration::between(kind, s.a, b)
    } else {
        Calibration::measure(kind)
    };
    let capture = Reader::parse(&s.live);
    drop(s.live);
    drop(s.dir);
    Measured {
        capture,
        calibration,
        end_ticks: b.0,
        wall_ns,
        timeline,
    }
}
