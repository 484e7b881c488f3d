//! `refscope bench`: timeit's loop, run in fresh worker processes until the median is known to
//! the asked precision or the time budget is spent. Statements are measured interleaved within
//! each process, so drift of the machine hits all of them alike.

pub mod worker;

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What one worker process does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub stmts: Vec<String>,
    pub setup: String,
    /// Loops per sample for each statement; None: the worker calibrates.
    pub loops: Option<Vec<u64>>,
    pub samples: u32,
    pub warmups: u32,
    pub gc: bool,
    pub process_time: bool,
    /// Target duration of one sample when calibrating.
    pub sample_seconds: f64,
}

/// A message from a worker, one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Msg {
    Calibrated { loops: Vec<u64> },
    Sample { stmt: u32, seconds: f64, warmup: bool },
    Failed { stmt: Option<u32>, error: String },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub stmts: Vec<String>,
    pub setup: String,
    pub number: Option<u64>,
    pub repeat: Option<u32>,
    pub budget: f64,
    pub precision: f64,
    pub gc: bool,
    pub process_time: bool,
}

impl Options {
    pub fn time_budget(&self) -> f64 {
        self.budget
    }
}

pub const MIN_PROCESSES: u32 = 5;
const MAX_PROCESSES: u32 = 500;
const SAMPLES_PER_PROCESS: u32 = 4;
const SAMPLE_SECONDS: f64 = 0.02;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every statement's interval reached the asked precision.
    Precision,
    /// The time budget ran out first.
    Budget,
    /// `--repeat` samples were taken.
    Repeat,
}

/// Every sample of a run: `measured[stmt][process]` in time order, `warmups[stmt]` one per process.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub measured: Vec<Vec<Vec<f64>>>,
    pub warmups: Vec<Vec<f64>>,
    pub loops: Vec<u64>,
    pub processes: u32,
    pub wall_seconds: f64,
    pub stop: Option<Stop>,
}

impl Samples {
    pub fn new(k: usize) -> Samples {
        Samples {
            measured: vec![Vec::new(); k],
            warmups: vec![Vec::new(); k],
            ..Default::default()
        }
    }

    pub fn flat(&self, stmt: usize) -> Vec<f64> {
        self.measured[stmt].iter().flatten().copied().collect()
    }

    pub fn take(&mut self, msg: Msg, stmts: &[String]) -> Result<(), Error> {
        match msg {
            Msg::Calibrated { loops } => self.loops = loops,
            Msg::Sample { stmt, seconds, warmup } => {
                let s = stmt as usize;
                if warmup {
                    self.warmups[s].push(seconds);
                } else {
                    self.measured[s].last_mut().expect("a process was opened").push(seconds);
                }
            }
            Msg::Failed { stmt: Some(i), error } => {
                return Err(Error::BenchStatement {
                    label: label(i as usize),
                    stmt: stmts[i as usize].clone(),
                    error,
                });
            }
            Msg::Failed { stmt: None, error } => return Err(Error::BenchSetup(error)),
        }
        Ok(())
    }
}

/// `A`, `B`, … for statement 0, 1, …
pub fn label(i: usize) -> String {
    if i < 26 {
        ((b'A' + i as u8) as char).to_string()
    } else {
        format!("S{}", i + 1)
    }
}

/// What the progress bar shows after each process.
pub struct Progress {
    pub elapsed: f64,
    pub processes: u32,
    /// Each statement's current `±` (relative half-width of its interval).
    pub precision: Vec<f64>,
}

fn one_process(python: &str, job: &Job, samples: &mut Samples, stmts: &[String]) -> Result<(), Error> {
    let (reader, writer) = std::io::pipe().map_err(|e| Error::Internal(format!("no pipe: {e}")))?;
    let wfd = writer.as_raw_fd();
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(worker::BOOTSTRAP)
        .env(crate::worker::ENV, serde_json::to_string(job).expect("jobs serialize"))
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
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Internal(format!("cannot start `{python}`: {e}")))?;
    drop(writer);
    for s in samples.measured.iter_mut() {
        s.push(Vec::new());
    }
    let mut failure = None;
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        if let Ok(msg) = serde_json::from_str::<Msg>(&line) {
            if let Err(e) = samples.take(msg, stmts) {
                failure.get_or_insert(e);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::Internal(format!("lost a bench worker: {e}")))?;
    if let Some(e) = failure {
        return Err(e);
    }
    if !status.success() {
        return Err(Error::Internal(format!("a bench worker ended with {status}")));
    }
    samples.processes += 1;
    Ok(())
}

/// Runs worker processes one after another until the stop rule holds.
pub fn run(python: &str, opts: &Options, mut progress: impl FnMut(&Progress)) -> Result<Samples, Error> {
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
        one_process(python, &job, &mut samples, &opts.stmts)?;
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
        if let Some(r) = opts.repeat {
            if samples.processes * per_process >= r {
                break Stop::Repeat;
            }
            continue;
        }
        if samples.processes >= MIN_PROCESSES && precision.iter().all(|p| *p <= opts.precision) {
            break Stop::Precision;
        }
        if (samples.processes >= 1 && elapsed + last > opts.budget) || samples.processes >= MAX_PROCESSES {
            break Stop::Budget;
        }
    };
    if samples.loops.is_empty() {
        samples.loops = job.loops.unwrap_or_default();
    }
    samples.wall_seconds = started.elapsed().as_secs_f64();
    samples.stop = Some(stop);
    Ok(samples)
}
