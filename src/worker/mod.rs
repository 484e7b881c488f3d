//! The worker process: runs the user's program exactly as `python` would, under the tracer.
//!
//! The launcher starts `python -c BOOTSTRAP` with the run described in `REFSCOPE_WORKER`; the
//! worker removes that variable, prepares `sys.argv`, `sys.path[0]` and `__main__` as the
//! interpreter does for a script, `-m` or `-c`, installs the tracer and runs the program. The
//! program's exit code, output and traceback are its own.

use crate::capture::Writer;
use crate::cpython::GilCell;
use crate::profiler::{self, Profiler, PROFILER};
use crate::record::job::{ChildJob, HeapPlan, Job, Target};
use crate::record::{Origin, Record, FLAG_FINISHED, FLAG_INTERRUPTED};
use crate::site::Pause;
use crate::tracer::{self, with_thread, Filter, Tracer, Watch, TRACER};
use crate::{clock, cpython, memory};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PySystemExit};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

mod child;
pub mod inline;
pub use child::_child;

/// The standard modules the worker uses, imported before the program's directory is on
/// `sys.path`: a `threading.py` or `sysconfig.py` beside the script must not stand in for them.
const NEEDED: &[&str] = &[
    "atexit",
    "gc",
    "importlib.machinery",
    "importlib.util",
    "linecache",
    "runpy",
    "sysconfig",
    "threading",
    "types",
    #[cfg(not(Py_3_12))]
    "dis",
];

/// `refscope heap` without `--at`: the census to take at exit (how many globals to name).
static EXIT_CENSUS: GilCell<Option<usize>> = GilCell::new(None);

#[pyfunction]
pub fn _worker(py: Python<'_>) -> PyResult<()> {
    let job: Job = crate::spawn::take(py)?;
    std::env::set_current_dir(&job.cwd)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot enter {}: {e}", job.cwd)))?;
    let sys = py.import("sys")?;
    let globals = sys
        .getattr("modules")?
        .get_item("__main__")?
        .getattr("__dict__")?
        .cast_into::<PyDict>()?;
    globals.del_item("sys")?;
    for m in NEEDED {
        py.import(*m)?;
    }

    let mut out =
        Writer::open(&job.capture).map_err(|e| PyRuntimeError::new_err(format!("cannot open capture file: {e}")))?;
    out.log(&start_record(&sys, job.profile)?);
    out.log(&process(Origin::Main));
    let roots = prepare_main(py, &job, &globals)?;
    let exact = match job.target {
        Target::Code { .. } => vec!["<string>".to_string()],
        _ => vec![],
    };
    let filter = filter(py, &job.cwd, roots.clone(), &job.include, exact, job.all)?;
    let children = (job.subprocesses && job.explain.is_none()).then(|| ChildJob {
        dir: Path::new(&job.capture)
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        cwd: job.cwd.clone(),
        roots: roots.iter().map(|r| r.display().to_string()).collect(),
        include: job.include.clone(),
        all: job.all,
        memory: job.memory,
    });
    out.follow_forks(children.as_ref().map(|c| Path::new(&c.dir)));
    let bootstrap = cpython::current_code(py);
    let mut profiler = None;
    let (mut tracer, mut explain) = match job.explain.clone() {
        Some(plan) => (None, Some((out, filter, plan))),
        None if job.profile => {
            let mut p = Profiler::new(out, filter, code_mark(py)?);
            if let Some(code) = &bootstrap {
                p.ignore_code(code.as_ptr());
            }
            profiler = Some(p);
            (None, None)
        }
        None => (
            Some(tracer(py, job.heap.as_ref(), out, filter, bootstrap.as_ref())?),
            None,
        ),
    };
    on_exit(py)?;

    // Everything the program needs is prepared before tracing starts, so none of it is measured.
    let code = compile_target(py, &job, &globals)?;
    if let (Target::Code { .. }, Some(Ok(c))) = (&job.target, &code) {
        let codes = code_tree(py, c)?;
        if let Some(t) = tracer.as_mut() {
            t.filter_mut().set_programs(codes.clone());
        }
        if let Some(p) = profiler.as_mut() {
            p.filter_mut().set_programs(codes.clone());
        }
        if let Some((_, f, _)) = explain.as_mut() {
            f.set_programs(codes);
        }
    }
    py.import("runpy")?;
    if let Target::Module { name } = &job.target {
        if !module_exists(py, name) {
            let refused = Record::NoModule { name: name.clone() };
            if let Some(t) = tracer.as_mut() {
                t.writer_mut().log(&refused);
            }
            if let Some(p) = profiler.as_mut() {
                p.writer_mut().log(&refused);
            }
            return Err(PySystemExit::new_err(1));
        }
    }
    // The program starts without cyclic garbage of refscope's making (its `gc.collect()` would count it).
    py.import("gc")?.call_method0("collect")?;
    match explain {
        Some((out, filter, plan)) => {
            let ignore = bootstrap.as_ref().map_or(0, |c| c.as_ptr() as usize);
            let code = match &job.target {
                Target::Code { code } => Some(code.clone()),
                _ => None,
            };
            crate::explain::install(py, out, filter, plan, ignore, code)?;
        }
        None => {
            if let Some(c) = &children {
                child::export(c);
            }
            if let Some(t) = tracer {
                measure(py, t, job.memory);
            }
            if let Some(p) = profiler {
                profile(py, p, job.memory);
            }
        }
    }
    start_clock();
    run_program(py, &job.target, code, &globals)
}

/// What the worker runs on: the interpreter's version and path, the tracer and the clock.
fn start_record(sys: &Bound<'_, PyModule>, profile: bool) -> PyResult<Record> {
    let version: String = sys.getattr("version")?.extract()?;
    Ok(Record::Start {
        python: version.split_whitespace().next().unwrap_or("").to_string(),
        executable: sys.getattr("executable")?.extract()?,
        tracer: if profile {
            cpython::profiler_name()
        } else {
            cpython::tracer_name()
        }
        .to_string(),
        clock: clock::kind().name().to_string(),
    })
}

/// This process, for its capture.
fn process(origin: Origin) -> Record {
    Record::Process {
        pid: std::process::id(),
        // SAFETY: getppid has no preconditions.
        ppid: unsafe { libc::getppid() } as u32,
        origin,
    }
}

/// Starts measuring: the tracer's hooks, then (after their own set-up, which may import
/// modules) the allocator hooks, right before the program.
fn measure(py: Python<'_>, tracer: Tracer, memory: bool) {
    // SAFETY: GIL held; no event callback is installed yet to borrow TRACER.
    let tr = unsafe { TRACER.get() };
    *tr = Some(tracer);
    if let Err(e) = cpython::install::<Hooks>(py) {
        // The program runs all the same; the report says nothing was measured, and why.
        if let Some(t) = tr.as_mut() {
            t.writer_mut().log(&Record::Lost {
                slot: crate::record::NO_SLOT,
                reason: e.value(py).to_string(),
            });
        }
    }
    if memory {
        // SAFETY: GIL held. Until `tr` goes, only C code and modules already imported run, so no
        // event callback borrows TRACER meanwhile.
        if let Some(tr) = unsafe { TRACER.get() }.as_mut() {
            memory::log_pymalloc(tr.writer_mut(), "start");
            memory::install(py, tr.writer_mut());
        }
    }
}

/// Starts profiling: the call hooks, then the allocator hooks, right before the program.
fn profile(py: Python<'_>, p: Profiler, memory: bool) {
    // SAFETY: GIL held; no call hook is installed yet to borrow PROFILER.
    let slot = unsafe { PROFILER.get() };
    *slot = Some(p);
    if let Err(e) = cpython::install_calls::<CallHooks>(py) {
        if let Some(p) = slot.as_mut() {
            p.writer_mut().log(&Record::Lost {
                slot: crate::record::NO_SLOT,
                reason: e.value(py).to_string(),
            });
        }
    }
    if memory {
        // SAFETY: GIL held. Until `p` goes, only C code and modules already imported run.
        if let Some(p) = unsafe { PROFILER.get() }.as_mut() {
            memory::log_pymalloc(p.writer_mut(), "start");
            memory::install(py, p.writer_mut());
        }
    }
}

/// How the process ends, measured: at interpreter exit, at `os._exit` (which skips atexit; a
/// multiprocessing child ends so) and, for a fork, in the child.
fn on_exit(py: Python<'_>) -> PyResult<()> {
    py.import("atexit")?
        .call_method1("register", (wrap_pyfunction!(_finish, py)?,))?;
    let os = py.import("os")?;
    let fork = PyDict::new(py);
    fork.set_item("after_in_child", wrap_pyfunction!(_forked, py)?)?;
    os.getattr("register_at_fork")?.call((), Some(&fork))?;
    // SAFETY: GIL held; nothing else borrows REAL_EXIT here.
    let real = unsafe { REAL_EXIT.get() };
    if real.is_none() {
        *real = Some(os.getattr("_exit")?.unbind());
        os.setattr("_exit", wrap_pyfunction!(_exit, py)?)?;
    }
    Ok(())
}

/// CPython's `os._exit`.
static REAL_EXIT: GilCell<Option<Py<PyAny>>> = GilCell::new(None);

/// `os._exit` while refscope measures: the figures are closed first, then the process ends.
#[pyfunction]
#[pyo3(signature = (status, /))]
fn _exit(py: Python<'_>, status: Bound<'_, PyAny>) -> PyResult<()> {
    if status.is_instance_of::<pyo3::types::PyInt>() {
        let _ = _finish(py);
    }
    // SAFETY: GIL held; the reference is cloned out before any Python code runs.
    let real = unsafe { REAL_EXIT.get() }.as_ref().map(|f| f.clone_ref(py));
    match real {
        Some(f) => f.call1(py, (status,)).map(drop),
        None => Ok(()),
    }
}

/// `sys.argv`, `sys.path[0]` and `__main__`'s `__file__`/`__loader__` as the interpreter sets
/// them for a script, `-m` or `-c`. Returns the directories whose files are the user's.
fn prepare_main(py: Python<'_>, job: &Job, globals: &Bound<'_, PyDict>) -> PyResult<Vec<PathBuf>> {
    let sys = py.import("sys")?;
    let mut roots = Vec::new();
    let (argv0, root, path0) = match &job.target {
        Target::Script { path: p, .. } => {
            let real = std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p));
            let dir = real.parent().map(|d| d.display().to_string()).unwrap_or_default();
            // As CPython: the cwd joined to the path as given, `.` components kept.
            let abs = PathBuf::from(&job.cwd).join(p).display().to_string();
            if let Some(given) = Path::new(&abs).parent() {
                roots.push(given.to_path_buf());
            }
            globals.set_item("__file__", &abs)?;
            globals.set_item("__cached__", py.None())?;
            let loader = py
                .import("importlib.machinery")?
                .getattr("SourceFileLoader")?
                .call1(("__main__", &abs))?;
            globals.set_item("__loader__", loader)?;
            (p.clone(), dir.clone(), dir)
        }
        Target::MainPath { path: p } => {
            // As python: the path on sys.path, its `__main__` module run from there.
            let abs = PathBuf::from(&job.cwd).join(p);
            roots.push(abs.clone());
            let real = std::fs::canonicalize(&abs).unwrap_or_else(|_| abs.clone());
            (p.clone(), real.display().to_string(), abs.display().to_string())
        }
        Target::Module { name } => (name.clone(), job.cwd.clone(), job.cwd.clone()),
        Target::Code { .. } => ("-c".to_string(), job.cwd.clone(), String::new()),
    };
    let mut argv = vec![argv0];
    argv.extend(job.args.iter().cloned());
    sys.setattr("argv", argv)?;
    // 3.10+: the command line as python would have been given it, not the worker's.
    if let Ok(orig) = sys.getattr("orig_argv").and_then(|o| o.extract::<Vec<String>>()) {
        let mut line: Vec<String> = orig.into_iter().take(1).collect();
        match &job.target {
            Target::Script { path, .. } | Target::MainPath { path } => line.push(path.clone()),
            Target::Module { name } => line.extend(["-m".to_string(), name.clone()]),
            Target::Code { code } => line.extend(["-c".to_string(), code.clone()]),
        }
        line.extend(job.args.iter().cloned());
        sys.setattr("orig_argv", line)?;
    }
    if !cpython::safe_path(py) {
        sys.getattr("path")?.cast_into::<PyList>()?.insert(0, path0)?;
    }
    roots.push(PathBuf::from(root));
    Ok(roots)
}

/// Which files are the user's: under `roots` or `--include`, not the interpreter's, not refscope's.
fn filter(
    py: Python<'_>,
    cwd: &str,
    roots: Vec<PathBuf>,
    include: &[String],
    exact: Vec<String>,
    all: bool,
) -> PyResult<Filter> {
    let sys = py.import("sys")?;
    let mut system: Vec<PathBuf> = Vec::new();
    for attr in ["prefix", "base_prefix", "exec_prefix", "base_exec_prefix"] {
        system.push(PathBuf::from(sys.getattr(attr)?.extract::<String>()?));
    }
    let paths = py.import("sysconfig")?.call_method0("get_paths")?;
    for key in ["stdlib", "platstdlib", "purelib", "platlib"] {
        if let Ok(p) = paths.get_item(key).and_then(|p| p.extract::<String>()) {
            system.push(PathBuf::from(p));
        }
    }
    let own: String = py.import("refscope")?.getattr("__file__")?.extract()?;
    let own = PathBuf::from(own)
        .parent()
        .map(|p| p.to_path_buf())
        .into_iter()
        .collect();
    Filter::new(PathBuf::from(cwd), roots, system, own, include, exact, all)
        .map_err(|e| PyRuntimeError::new_err(format!("bad --include pattern `{}`: {}", e.0, e.1)))
}

/// The time tracer, with `refscope heap`'s census plan and refscope's bootstrap left untraced.
fn tracer(
    py: Python<'_>,
    heap: Option<&HeapPlan>,
    out: Writer,
    filter: Filter,
    bootstrap: Option<&Py<PyAny>>,
) -> PyResult<Tracer> {
    let mut tracer = Tracer::new(out, filter, code_mark(py)?);
    if let Some(HeapPlan { at: None, top }) = heap {
        // SAFETY: the worker runs with the GIL held.
        unsafe { *EXIT_CENSUS.get() = Some(*top) };
    }
    if let Some(HeapPlan { at: Some(at), top }) = heap {
        let (at, top) = (at.clone(), *top);
        let when = format!("{}:{}", at.0, at.1);
        tracer.watch(Watch {
            at,
            then: Box::new(move |py, filter, out| census(py, filter, out, &when, top)),
        });
    }
    if let Some(code) = bootstrap {
        tracer.ignore_code(code.as_ptr());
    }
    Ok(tracer)
}

fn code_mark(py: Python<'_>) -> PyResult<cpython::CodeMark> {
    cpython::CodeMark::reserve(py)
        .ok_or_else(|| PyRuntimeError::new_err("every code-object extra slot is taken by other tools"))
}

/// The program's code object (None for `-m`, which runpy finds); `-c` source for tracebacks.
fn compile_target<'py>(
    py: Python<'py>,
    job: &Job,
    globals: &Bound<'py, PyDict>,
) -> PyResult<Option<PyResult<Bound<'py, PyAny>>>> {
    let builtins = py.import("builtins")?;
    if !matches!(job.target, Target::Code { .. }) {
        // Python 3.13 keeps `-c` source for tracebacks under `<string>`: that is the bootstrap's,
        // which a program's own `<string>` code (pdb.run, exec) must not show.
        if let Ok(cache) = py.import("linecache").and_then(|l| l.getattr("cache")) {
            let _ = cache.call_method1("pop", ("<string>", py.None()));
        }
    }
    Ok(match &job.target {
        Target::Script { path, source } => {
            let source = match source {
                Some(text) => text.clone().into_bytes(),
                None => std::fs::read(path).map_err(|e| PyRuntimeError::new_err(format!("cannot read {path}: {e}")))?,
            };
            let abs: String = globals
                .get_item("__file__")?
                .ok_or_else(|| PyRuntimeError::new_err("__main__ has no __file__"))?
                .extract()?;
            Some(compile(
                py,
                &builtins,
                pyo3::types::PyBytes::new(py, &source).into_any(),
                &abs,
            ))
        }
        Target::Code { code } => {
            // Python 3.13 keeps `-c` source for tracebacks under `<string>`; the bootstrap took that.
            if let Ok(cache) = py.import("linecache").and_then(|l| l.getattr("cache")) {
                if cache.contains("<string>").unwrap_or(false) {
                    let lines: Vec<String> = code.lines().map(|l| format!("{l}\n")).collect();
                    cache.set_item("<string>", (code.len(), py.None(), lines, "<string>"))?;
                }
            }
            Some(compile(
                py,
                &builtins,
                pyo3::types::PyString::new(py, code).into_any(),
                "<string>",
            ))
        }
        Target::Module { .. } | Target::MainPath { .. } => None,
    })
}

/// The addresses of `code` and of every code object nested in it (its functions, classes,
/// lambdas and comprehensions), which live as long as the program.
fn code_tree(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<rustc_hash::FxHashSet<usize>> {
    let kind = py.import("types")?.getattr("CodeType")?;
    let mut seen = rustc_hash::FxHashSet::default();
    let mut todo = vec![code.clone()];
    while let Some(c) = todo.pop() {
        if seen.insert(c.as_ptr() as usize) {
            for k in c.getattr("co_consts")?.try_iter()? {
                let k = k?;
                if k.is_instance(&kind)? {
                    todo.push(k);
                }
            }
        }
    }
    Ok(seen)
}

/// As `python -m`: parent packages are imported to find the module (before tracing).
/// False only when there is no such module: a package that raises while it is imported
/// exists, and running it shows its traceback as python does.
fn module_exists(py: Python<'_>, name: &str) -> bool {
    match py
        .import("importlib.util")
        .and_then(|u| u.call_method1("find_spec", (name,)))
    {
        Ok(spec) => !spec.is_none(),
        Err(e) => !e.is_instance_of::<pyo3::exceptions::PyModuleNotFoundError>(py),
    }
}

/// Runs the program; an uncaught exception ends it as the interpreter would end it.
fn run_program(
    py: Python<'_>,
    target: &Target,
    code: Option<PyResult<Bound<'_, PyAny>>>,
    globals: &Bound<'_, PyDict>,
) -> PyResult<()> {
    let result = match (target, code) {
        (Target::Module { name }, _) => py
            .import("runpy")?
            .call_method1("_run_module_as_main", (name, true))
            .map(drop),
        (Target::MainPath { .. }, _) => py
            .import("runpy")?
            .call_method1("_run_module_as_main", ("__main__", false))
            .map(drop),
        (_, Some(code)) => code.and_then(|c| py.import("builtins")?.call_method1("exec", (c, globals)).map(drop)),
        _ => unreachable!("scripts and code are compiled before they run"),
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.is_instance_of::<PySystemExit>(py) => Err(e),
        Err(e) => {
            // As the interpreter does for an uncaught exception: sys.excepthook, then exit 1 once
            // threads and atexit handlers have run.
            if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                INTERRUPTED.store(true, Ordering::Relaxed);
                with_writer(|w| w.set_flag(FLAG_INTERRUPTED));
            }
            let (t, v, tb) = (e.get_type(py), e.value(py).clone(), e.traceback(py));
            py.import("sys")?.getattr("excepthook")?.call1((t, v, tb))?;
            Err(PySystemExit::new_err(1))
        }
    }
}

fn compile<'py>(
    py: Python<'py>,
    builtins: &Bound<'py, PyModule>,
    source: Bound<'py, PyAny>,
    filename: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let kw = PyDict::new(py);
    kw.set_item("dont_inherit", true)?;
    builtins.getattr("compile")?.call((source, filename, "exec"), Some(&kw))
}

fn with_writer(f: impl FnOnce(&Writer)) {
    // SAFETY: callers hold the GIL and `f` runs no Python code, so no event callback borrows
    // TRACER or PROFILER meanwhile.
    unsafe {
        if let Some(tr) = TRACER.get().as_ref() {
            f(tr.writer());
        } else if let Some(p) = PROFILER.get().as_ref() {
            f(p.writer());
        }
    }
}

fn start_clock() {
    with_writer(|w| w.header().start_ticks.store(clock::ticks(), Ordering::Relaxed));
}

/// Runs last at interpreter exit (registered first): closes open frames and marks the run finished.
#[pyfunction]
fn _finish(py: Python<'_>) -> PyResult<()> {
    let t = clock::ticks();
    let _pause = Pause::new();
    if crate::explain::active() {
        crate::explain::finish(py);
        if INTERRUPTED.load(Ordering::Relaxed) {
            end_interrupted(py);
        }
        return Ok(());
    }
    // SAFETY: atexit handlers run with the GIL held; the borrow ends at once.
    // Taken first, so what uninstalling runs is not profiled.
    if let Some(mut p) = unsafe { PROFILER.get() }.take() {
        let handover = cpython::uninstall_calls(py);
        if handover == cpython::Handover::Replaced {
            p.lost(LOST_PROFILE_HOOK, t);
        } else {
            p.close_all(t);
        }
        p.log_spans();
        memory::finish(py, p.writer_mut());
        return finished(py, p.writer(), t);
    }
    let handover = cpython::uninstall(py);
    // SAFETY: atexit handlers run with the GIL held, and the tracer is uninstalled: nothing else
    // borrows TRACER or EXIT_CENSUS.
    let (tr, census_top) = unsafe { (TRACER.get().take(), EXIT_CENSUS.get().take()) };
    let Some(mut tr) = tr else {
        return Ok(());
    };
    if let Some(top) = census_top {
        let (filter, out) = tr.parts();
        census(py, filter, out, "exit", top);
    }
    if handover == cpython::Handover::Replaced {
        // Frames still open when the hook was taken are charged up to the last event seen.
        with_thread(t, |ts| tr.lost(ts, LOST_HOOK));
    } else {
        with_thread(t, |ts| tr.close_all(ts, t));
    }
    memory::finish(py, tr.writer_mut());
    finished(py, tr.writer(), t)
}

/// Marks the capture finished at `t`; an uncaught KeyboardInterrupt ends the worker as it ends
/// the interpreter.
fn finished(py: Python<'_>, w: &Writer, t: u64) -> PyResult<()> {
    let h = w.header();
    h.end_ticks.store(t, Ordering::Relaxed);
    w.set_flag(FLAG_FINISHED);
    if h.flags.load(Ordering::Relaxed) & FLAG_INTERRUPTED != 0 {
        end_interrupted(py);
    }
    Ok(())
}

/// The program ended with an uncaught KeyboardInterrupt (explain has no capture flag for it).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// An uncaught KeyboardInterrupt ends the interpreter with SIGINT; so does this worker.
fn end_interrupted(py: Python<'_>) {
    if let Ok(sys) = py.import("sys") {
        for stream in ["stdout", "stderr"] {
            let _ = sys.getattr(stream).and_then(|s| s.call_method0("flush"));
        }
    }
    // SAFETY: restoring the default action and signalling this process have no preconditions.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::kill(libc::getpid(), libc::SIGINT);
    }
}

/// Why refscope stopped measuring when another tool took the trace hook.
const LOST_HOOK: &str = "another tool set its own trace function with PyEval_SetTrace (as coverage's C tracer does), \
which replaces refscope's on Python 3.9 to 3.11; nothing after this line was measured on the main thread";

/// Why refscope stopped profiling when another tool took the profile hook.
const LOST_PROFILE_HOOK: &str = "another tool set its own profile function with PyEval_SetProfile (as cProfile does), \
which replaces refscope's on Python 3.9 to 3.11; calls after that were not measured on the main thread";

/// In a forked child, after CPython's own after-fork work: with a capture of its own (see
/// `capture::followed`) it goes on measuring from here; without, measuring stops.
#[pyfunction]
fn _forked(py: Python<'_>) {
    if crate::capture::followed() {
        let t = clock::ticks();
        let _pause = Pause::new();
        // SAFETY: fork handlers run with the GIL held, outside every event callback.
        if let Some(tr) = unsafe { TRACER.get() }.as_mut() {
            with_thread(t, |ts| tr.forked(ts, t));
            memory::forked(t);
            tr.writer_mut().log(&process(Origin::Fork));
            tr.writer().header().start_ticks.store(t, Ordering::Relaxed);
            return;
        }
    }
    cpython::uninstall(py);
    cpython::uninstall_calls(py);
    memory::uninstall(py);
    // SAFETY: fork handlers run with the GIL held, and the hooks are uninstalled.
    unsafe {
        std::mem::forget(TRACER.get().take());
        std::mem::forget(PROFILER.get().take());
    }
}

/// Interpreter events go to the tracer; blocks CPython makes only because a tracer is set are
/// taken out of the memory figures.
struct Hooks;

impl cpython::Events for Hooks {
    #[inline(always)]
    fn start(
        key: usize,
        code: *mut pyo3::ffi::PyObject,
        t: u64,
        resume: impl FnOnce(bool) -> (bool, Option<u32>),
    ) -> bool {
        tracer::on_start(key, code, t, resume)
    }

    #[inline(always)]
    fn line(key: usize, code: impl FnOnce() -> *mut pyo3::ffi::PyObject, line: u32, t: u64) -> bool {
        tracer::on_line(key, code, line, t)
    }

    #[inline(always)]
    fn traced(code: *mut pyo3::ffi::PyObject) -> bool {
        tracer::on_traced(code)
    }

    #[inline(always)]
    fn end(key: usize, code: impl FnOnce() -> *mut pyo3::ffi::PyObject, t: u64) -> cpython::Leave {
        tracer::on_end(key, code, t)
    }

    #[inline(always)]
    fn not_the_programs(block: *mut std::ffi::c_void) {
        memory::forget(block)
    }
}

/// Calls and returns go to the profiler.
struct CallHooks;

impl cpython::Calls for CallHooks {
    #[inline(always)]
    fn enter(key: usize, code: *mut pyo3::ffi::PyObject, t: u64, resumed: impl FnOnce(bool) -> bool) {
        profiler::on_enter(key, code, t, resumed)
    }

    #[inline(always)]
    fn leave(key: usize, t: u64) -> bool {
        profiler::on_leave(key, t)
    }

    #[inline(always)]
    fn call(callable: Option<cpython::CCallable>, object: *mut pyo3::ffi::PyObject, t: u64) -> bool {
        profiler::on_call(callable, object, t)
    }

    #[inline(always)]
    fn c_return(callable: cpython::CCallable, t: u64) {
        profiler::on_c_return(callable, t)
    }

    fn thread_started(name: String) {
        profiler::on_thread_started(name)
    }

    #[inline(always)]
    fn not_the_programs(block: *mut std::ffi::c_void) {
        memory::forget(block)
    }
}

/// `refscope heap`: counts the live heap now and names the globals of your modules that keep the
/// most alive (your modules: `__main__` and those whose file the filter traces).
fn census(py: Python<'_>, filter: &Filter, out: &mut Writer, when: &str, top: usize) {
    let mut user = Vec::new();
    if let Ok(items) = py
        .import("sys")
        .and_then(|s| s.getattr("modules"))
        .and_then(|m| m.call_method0("items"))
        .and_then(|i| i.try_iter())
    {
        for item in items.flatten() {
            let Ok((name, module)) = item.extract::<(String, Bound<'_, PyAny>)>() else {
                continue;
            };
            let file: Option<String> = module.getattr("__file__").ok().and_then(|f| f.extract().ok());
            if name == "__main__" || file.is_some_and(|f| filter.wants(&f)) {
                user.push(name);
            }
        }
    }
    if let Ok(census) = crate::objects::heap::census(py, when, &user, top) {
        out.log(&Record::Heap { census });
    }
}
