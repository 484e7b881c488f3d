//! `refscope bench`: timeit's loop, run in fresh worker processes until the median is known to
//! the asked precision or the time budget is spent. Statements are measured interleaved within
//! each process, so drift of the machine hits all of them alike.

pub mod worker;

use crate::error::Error;
use crate::record::bench::{label, Job, Msg, Options, Samples, Stop};
use crate::spawn::{die_with_parent, Handoff, Signals};
use pyo3::prelude::*;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MIN_PROCESSES: u32 = 5;
const MAX_PROCESSES: u32 = 500;
const SAMPLES_PER_PROCESS: u32 = 4;
const SAMPLE_SECONDS: f64 = 0.02;

/// What the progress bar shows after each process.
pub struct Progress {
    pub elapsed: f64,
    pub processes: u32,
    /// Each statement's current `±` (relative half-width of its interval).
    pub precision: Vec<f64>,
}

/// One worker process; it is killed at `deadline` or on a stop signal, and the samples it sent
/// until then are kept: Some(why) says it was stopped.
fn one_process(
    python: &str,
    job: &Job,
    deadline: Option<Instant>,
    signals: &Signals,
    samples: &mut Samples,
) -> Result<Option<Stop>, Error> {
    let (reader, writer) = std::io::pipe().map_err(|e| Error::Internal(format!("no pipe: {e}")))?;
    let wfd = writer.as_raw_fd();
    let mut cmd = Command::new(python);
    // Made after the pipe, so the job's descriptor is never CHANNEL_FD (3), which dup2 takes.
    let handoff = Handoff::new(job)?;
    handoff.pass(&mut cmd);
    cmd.arg("-c")
        .arg(worker::BOOTSTRAP)
        .env_remove(crate::record::job::CHILD_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: dup2 and fcntl are async-signal-safe; they only touch the child's descriptor table.
    unsafe {
        cmd.pre_exec(move || {
            if wfd == worker::CHANNEL_FD {
                libc::fcntl(wfd, libc::F_SETFD, 0);
            } else if libc::dup2(wfd, worker::CHANNEL_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Its own group: the terminal's Ctrl-C reaches refscope, which stops the worker.
            libc::setpgid(0, 0);
            Ok(())
        });
    }
    die_with_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Internal(format!("cannot start `{python}`: {e}")))?;
    drop(writer);
    drop(handoff);
    let mut failure = None;
    let mut got = 0;
    let done = AtomicBool::new(false);
    let stopped: Mutex<Option<Stop>> = Mutex::new(None);
    let pid = child.id() as libc::pid_t;
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let why = if signals.take().is_some() {
                    Some(Stop::Interrupted)
                } else if deadline.is_some_and(|d| Instant::now() >= d) {
                    Some(Stop::Budget)
                } else {
                    None
                };
                if let Some(why) = why {
                    *stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                    // SAFETY: the worker is not reaped before this thread ends, so `pid` is its.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if let Ok(msg) = serde_json::from_str::<Msg>(&line) {
                got += matches!(msg, Msg::Sample { .. }) as u32;
                if let Err(e) = samples.take(msg, &job.stmts) {
                    failure.get_or_insert(e);
                }
            }
        }
        done.store(true, Ordering::Relaxed);
    });
    let status = child
        .wait()
        .map_err(|e| Error::Internal(format!("lost a bench worker: {e}")))?;
    if let Some(why) = stopped.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Ok(Some(why));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // Every sample, or the statements ended the worker themselves (os._exit, a crash, a signal).
    if !status.success() || got < (job.warmups + job.samples) * job.stmts.len() as u32 {
        return Err(Error::BenchEnded(status.to_string()));
    }
    Ok(None)
}

/// A worker still running this long past the time budget is stopped (a statement that never
/// ends, or one slower than the budget): the budget is a bound, with this much slack.
fn hard_deadline(started: Instant, budget: f64) -> Instant {
    started + Duration::from_secs_f64(budget * 1.2 + 0.5)
}

/// Runs rounds until the stop rule holds: `round` takes one round of samples (a fresh worker
/// process for statements given as text, or a round in the calling process for callables) with
/// the job it is given. One loop for the command line and the Python API.
pub fn run(
    opts: &Options,
    mut round: impl FnMut(&Job, Option<Instant>, &mut Samples) -> Result<Option<Stop>, Error>,
    mut progress: impl FnMut(&Progress),
) -> Result<Samples, Error> {
    let k = opts.stmts.len();
    let mut samples = Samples::new(k);
    let started = Instant::now();
    let per_process = opts
        .repeat
        .map(|r| r.min(SAMPLES_PER_PROCESS))
        .unwrap_or(SAMPLES_PER_PROCESS);
    let mut job = Job {
        stmts: opts.stmts.clone(),
        setup: opts.setup.clone(),
        loops: opts.number.map(|n| vec![n; k]),
        samples: per_process,
        warmups: 1,
        gc: opts.gc,
        process_time: opts.process_time,
        sample_seconds: SAMPLE_SECONDS,
    };
    let mut last = 0.0;
    let stop = loop {
        let t0 = Instant::now();
        if let Some(r) = opts.repeat {
            let taken = samples.processes * per_process;
            job.samples = per_process.min(r - taken);
        }
        for s in samples.measured.iter_mut() {
            s.push(Vec::new());
        }
        // `--repeat` asks for its samples however long they take.
        let deadline = opts.repeat.is_none().then(|| hard_deadline(started, opts.budget));
        let stopped = round(&job, deadline, &mut samples)?;
        samples.processes += 1;
        if job.loops.is_none() {
            job.loops = Some(samples.loops.clone());
        }
        last = t0.elapsed().as_secs_f64().max(last * 0.5);
        let elapsed = started.elapsed().as_secs_f64();
        let precision: Vec<f64> = (0..k)
            .map(|s| crate::stats::summarize(&samples.flat(s)).rel_half_width())
            .collect();
        progress(&Progress {
            elapsed,
            processes: samples.processes,
            precision: precision.clone(),
        });
        if let Some(why) = stopped {
            break why;
        }
        if let Some(r) = opts.repeat {
            if samples.processes * per_process >= r {
                break Stop::Repeat;
            }
            continue;
        }
        if samples.processes >= MIN_PROCESSES && precision.iter().all(|p| *p <= opts.precision) {
            break Stop::Precision;
        }
        if elapsed + last > opts.budget || samples.processes >= MAX_PROCESSES {
            break Stop::Budget;
        }
    };
    if (0..k).all(|s| samples.flat(s).is_empty()) {
        return Err(match stop {
            Stop::Interrupted => Error::Interrupted,
            _ => Error::BenchNoSample(opts.budget),
        });
    }
    if samples.loops.is_empty() {
        samples.loops = job.loops.unwrap_or_default();
    }
    samples.wall_seconds = started.elapsed().as_secs_f64();
    samples.stop = Some(stop);
    Ok(samples)
}

/// One round in a fresh worker process of `python`.
pub fn in_worker(python: &str) -> impl FnMut(&Job, Option<Instant>, &mut Samples) -> Result<Option<Stop>, Error> + '_ {
    let signals = Signals::stopping();
    move |job, deadline, samples| one_process(python, job, deadline, &signals, samples)
}

/// One round in this process, for callables (which cannot move to another process).
pub fn in_this_process<'a, 'py>(
    py: Python<'py>,
    timers: &'a [Bound<'py, PyAny>],
) -> impl FnMut(&Job, Option<Instant>, &mut Samples) -> Result<Option<Stop>, Error> + 'a {
    move |job, _deadline, samples| {
        let mut failure = None;
        worker::sample(py, timers, job, &mut |m| {
            if let Err(e) = samples.take(m, &job.stmts) {
                failure.get_or_insert(e);
            }
        });
        failure.map_or(Ok(None), Err)
    }
}

/// Checks the options shared by `refscope bench` and `refscope.bench`, and joins the setup lines.
#[allow(clippy::too_many_arguments)]
pub fn options(
    setup: Vec<String>,
    stmts: Vec<String>,
    number: Option<u64>,
    repeat: Option<u32>,
    budget: f64,
    precision_pct: f64,
    gc: bool,
    process: bool,
) -> Result<Options, Error> {
    if number == Some(0) {
        return Err(Error::Usage("--number must be at least 1".into()));
    }
    if repeat == Some(0) {
        return Err(Error::Usage("--repeat must be at least 1".into()));
    }
    if !(budget > 0.0 && budget.is_finite()) {
        return Err(Error::Usage(format!(
            "--time-budget must be a positive number of seconds, not `{budget}`"
        )));
    }
    if !(precision_pct > 0.0 && precision_pct < 100.0) {
        return Err(Error::Usage(format!(
            "--precision must be a percentage between 0 and 100, not `{precision_pct}`"
        )));
    }
    let setup = if setup.is_empty() {
        "pass".to_string()
    } else {
        setup.join("\n")
    };
    let stmts = if stmts.is_empty() {
        vec!["pass".to_string()]
    } else {
        stmts
    };
    Ok(Options {
        stmts,
        setup,
        number,
        repeat,
        budget,
        precision: precision_pct / 100.0,
        gc,
        process_time: process,
    })
}

/// Compiles each statement and the setup as timeit would, so syntax errors stop here.
pub fn check(py: Python<'_>, opts: &Options) -> Result<(), Error> {
    let timeit = py.import("timeit").map_err(|e| Error::Internal(e.to_string()))?;
    let detail = |e: PyErr| crate::error::python_text(py, &e);
    if let Err(e) = timeit.getattr("Timer").and_then(|t| t.call1(("pass", &opts.setup))) {
        return Err(Error::BenchSyntax {
            what: "the setup".into(),
            detail: detail(e),
        });
    }
    for (i, s) in opts.stmts.iter().enumerate() {
        if let Err(e) = timeit.getattr("Timer").and_then(|t| t.call1((s, "pass"))) {
            return Err(Error::BenchSyntax {
                what: format!("statement {} (`{s}`)", label(i)),
                detail: detail(e),
            });
        }
    }
    Ok(())
}

pub fn python_version(py: Python<'_>) -> String {
    py.import("platform")
        .and_then(|p| p.call_method0("python_version")?.extract())
        .unwrap_or_default()
}
