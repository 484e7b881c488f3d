//! The bench report (`refscope bench`): per-statement statistics, the comparison of each
//! statement with the first, and warnings about stability.

use crate::record::bench::Stop;
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "refscope.bench";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchReport {
    pub schema: String,
    pub schema_version: u32,
    pub refscope_version: String,
    pub python: String,
    pub setup: String,
    /// `perf_counter` (wall clock) or `process_time` (CPU time of the worker).
    pub timer: String,
    pub gc: bool,
    /// Processes used (for callables: rounds in the calling process).
    pub processes: u32,
    pub in_process: bool,
    pub wall_seconds: f64,
    /// `precision`, `budget`, `repeat` or `interrupted` (Ctrl-C or a stop signal): why sampling stopped.
    pub stop: Stop,
    /// The asked relative half-width of each interval (0.01 = ±1%).
    pub precision: f64,
    pub time_budget: f64,
    pub statements: Vec<Statement>,
    pub comparisons: Vec<Comparison>,
    pub warnings: Vec<Warning>,
}

/// Times are seconds per loop (one execution of the statement).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Statement {
    pub label: String,
    pub stmt: String,
    pub loops: u64,
    pub n: usize,
    pub median: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// `(ci_high - ci_low) / 2 / median`.
    pub rel_half_width: f64,
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
    /// Measured samples, one list per process, in time order.
    pub samples: Vec<Vec<f64>>,
    /// The discarded first sample of each process.
    pub warmups: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    pub label: String,
    pub baseline: String,
    /// Median of this statement over the median of the baseline (below 1: faster).
    pub ratio: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// `faster`, `slower` or `same` (no significant difference).
    pub verdict: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Warning {
    pub label: Option<String>,
    /// `imprecise`, `outliers`, `drift` or `cached`.
    pub kind: String,
    pub message: String,
    pub hint: String,
}
