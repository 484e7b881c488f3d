//! The Report model: the plain data every renderer (terminal, JSON, HTML, web) reads.
//!
//! Built from a capture by `build`; never touches the interpreter.

mod build;
pub mod terminal;

pub use build::{build, Ended, Run};

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "refscope.run";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema: String,
    pub schema_version: u32,
    pub refscope_version: String,
    pub python: Python,
    pub program: Program,
    pub outcome: Outcome,
    /// Time from the start of the program to its end (or to the moment it was stopped).
    pub wall_ns: u64,
    /// Line events counted in traced code.
    pub line_events: u64,
    pub files: Vec<FileReport>,
    pub functions: Vec<Function>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Python {
    pub version: String,
    pub executable: String,
    pub tracer: String,
    pub clock: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Program {
    /// `script`, `module` or `code`.
    pub kind: String,
    pub target: String,
    pub argv: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    /// `exited`, `signalled`, `timeout` or `not_started`.
    pub status: String,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// True when the program did not reach the interpreter's normal shutdown: figures cover
    /// everything up to the moment it stopped.
    pub partial: bool,
    /// True when the capture ran out of room and later lines were not recorded.
    pub truncated: bool,
    /// One sentence on how the program ended.
    pub description: String,
    /// The line the program was running last (for a partial run: where it stopped).
    pub last_line: Option<Location>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Location {
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileReport {
    /// Absolute path (or `<string>` for `-c` code).
    pub path: String,
    /// The path as the report shows it: relative to the current directory when inside it.
    pub display: String,
    /// Lines that ran, in line order.
    pub lines: Vec<Line>,
    /// The file's text, one entry per line; empty when it could not be read.
    #[serde(skip)]
    pub source: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Line {
    pub line: u32,
    pub hits: u64,
    /// Time from this line's events to the next event in the same frame, callees included,
    /// not counted again while the same line is already running further up the stack.
    pub time_ns: u64,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Function {
    pub name: String,
    pub qualname: String,
    pub file: String,
    pub line: u32,
    pub calls: u64,
    /// Time inside the function, callees included, recursion counted once.
    pub total_ns: u64,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }
}
