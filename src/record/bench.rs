//! `refscope bench`'s records: what a worker is asked to time, what it sends back, and every
//! sample of a run.

use crate::error::Error;
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every statement's interval reached the asked precision.
    Precision,
    /// The time budget ran out first.
    Budget,
    /// `--repeat` samples were taken.
    Repeat,
    /// Ctrl-C, SIGTERM or SIGHUP stopped it: the samples are those taken until then.
    Interrupted,
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
