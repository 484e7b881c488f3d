//! The timing loop, run inside a fresh worker process (or in-process for callables): timeit's own
//! `Timer`, so a figure means what `timeit` means, with GC off while timing unless asked.

use crate::record::bench::{Job, Msg};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::io::Write;

/// File descriptor on which a bench worker writes its messages (set up by the launcher).
pub const CHANNEL_FD: i32 = 3;

pub const BOOTSTRAP: &str =
    "import sys; del sys.path[0]; __import__('refscope._refscope', fromlist=['_'])._bench_worker()";

fn error_text(py: Python<'_>, e: &PyErr) -> String {
    let name = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let msg = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    if msg.is_empty() {
        name
    } else {
        format!("{name}: {msg}")
    }
}

/// Builds one `timeit.Timer` per statement. Statements and setup may be strings or callables.
pub fn timers<'py>(
    py: Python<'py>,
    stmts: &[Bound<'py, PyAny>],
    setup: &Bound<'py, PyAny>,
    gc: bool,
    process_time: bool,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let timeit = py.import("timeit")?;
    let time = py.import("time")?;
    let clock = time.getattr(if process_time { "process_time" } else { "perf_counter" })?;
    let setup = if gc && setup.is_instance_of::<pyo3::types::PyString>() {
        // timeit's documented way to keep the collector on while timing.
        pyo3::types::PyString::new(py, &format!("import gc; gc.enable()\n{}", setup.extract::<String>()?)).into_any()
    } else {
        setup.clone()
    };
    stmts
        .iter()
        .map(|s| {
            let kw = PyDict::new(py);
            kw.set_item("timer", &clock)?;
            timeit.getattr("Timer")?.call((s, &setup), Some(&kw))
        })
        .collect()
}

/// Calibrates (when `job.loops` is empty), then takes warm-up and measured samples, statement by
/// statement in a rotating order, sending each to `send`.
pub fn sample(py: Python<'_>, timers: &[Bound<'_, PyAny>], job: &Job, send: &mut dyn FnMut(Msg)) {
    let time = |i: usize, loops: u64| -> Result<f64, Msg> {
        timers[i]
            .call_method1("timeit", (loops,))
            .and_then(|t| t.extract::<f64>())
            .map_err(|e| Msg::Failed {
                stmt: Some(i as u32),
                error: error_text(py, &e),
            })
    };
    let mut run = || -> Result<(), Msg> {
        let loops = match &job.loops {
            Some(l) => l.clone(),
            None => {
                let mut all = Vec::new();
                for i in 0..timers.len() {
                    let mut n: u64 = 1;
                    let t = loop {
                        let t = time(i, n)?;
                        if t >= job.sample_seconds / 5.0 || n >= 1 << 40 {
                            break t;
                        }
                        let guess = if t > 0.0 {
                            ((n as f64) * (job.sample_seconds / 5.0 / t) * 1.2).ceil() as u64
                        } else {
                            n * 10
                        };
                        n = guess.max(n * 2);
                    };
                    all.push(((n as f64) * job.sample_seconds / t.max(1e-9)).ceil().max(1.0) as u64);
                }
                send(Msg::Calibrated { loops: all.clone() });
                all
            }
        };
        let k = timers.len();
        for round in 0..(job.warmups + job.samples) {
            for j in 0..k {
                let i = (j + round as usize) % k;
                let t = time(i, loops[i])?;
                send(Msg::Sample {
                    stmt: i as u32,
                    seconds: t / loops[i] as f64,
                    warmup: round < job.warmups,
                });
            }
        }
        Ok(())
    };
    if let Err(m) = run() {
        send(m);
    }
}

/// Entry point of a bench worker process: `python -c BOOTSTRAP`, the job handed over (`spawn`).
#[pyfunction]
pub fn _bench_worker(py: Python<'_>) -> PyResult<()> {
    use std::os::fd::FromRawFd;
    let job: Job = crate::spawn::take(py)?;
    // As `python -m timeit`: the setup imports modules of the current directory.
    let sys = py.import("sys")?;
    if !crate::cpython::safe_path(py) {
        let cwd = py.import("os")?.call_method0("getcwd")?;
        sys.getattr("path")?.call_method1("insert", (0, cwd))?;
    }
    // SAFETY: the launcher opened this descriptor for us; nothing else in the process uses it,
    // and closing it on exec only changes its flags.
    let mut out = unsafe {
        libc::fcntl(CHANNEL_FD, libc::F_SETFD, libc::FD_CLOEXEC);
        std::io::BufWriter::new(std::fs::File::from_raw_fd(CHANNEL_FD))
    };
    let mut send = |m: Msg| {
        let _ = serde_json::to_writer(&mut out, &m);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    };
    let stmts: Vec<Bound<'_, PyAny>> = job
        .stmts
        .iter()
        .map(|s| pyo3::types::PyString::new(py, s).into_any())
        .collect();
    let setup = pyo3::types::PyString::new(py, &job.setup).into_any();
    match timers(py, &stmts, &setup, job.gc, job.process_time) {
        Ok(t) => sample(py, &t, &job, &mut send),
        Err(e) => send(Msg::Failed {
            stmt: None,
            error: error_text(py, &e),
        }),
    }
    Ok(())
}
