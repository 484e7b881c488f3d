//! The run report (`refscope run`): per line and per function figures, how the program ended,
//! and its memory.

use super::memory;
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "refscope.run";
pub const SCHEMA_VERSION: u32 = 3;

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
    /// Allocations, the heap over time, GC runs and survivors (of the main process; its totals
    /// include the children's); None with `--no-memory`.
    pub memory: Option<memory::Memory>,
    /// Every process measured, the main one first, each with its own figures; `files`,
    /// `functions`, `line_events` and the memory totals above are their sums.
    pub processes: Vec<Process>,
}

/// One measured process: the program's main process or one of its children.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// `main`, `fork` (multiprocessing's fork and forkserver, `os.fork`) or `spawn` (a new
    /// interpreter: multiprocessing's spawn, `subprocess`).
    pub origin: String,
    /// True when it ended through the interpreter's shutdown or `os._exit`; false when it was
    /// killed, crashed or was still running: its figures run up to that moment.
    pub finished: bool,
    /// One sentence on how it ended.
    pub description: String,
    /// The line it was running last.
    pub last_line: Option<Location>,
    pub unmeasured: Option<Unmeasured>,
    pub wall_ns: u64,
    pub line_events: u64,
    /// The peak of its Python heap; None with `--no-memory`.
    pub peak_bytes: Option<u64>,
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
    /// Set when refscope stopped measuring before the program ended (the run is then partial).
    pub unmeasured: Option<Unmeasured>,
}

/// From where refscope could not measure, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Unmeasured {
    /// The last line measured (None: before any line of yours).
    pub after: Option<Location>,
    pub reason: String,
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Line {
    pub line: u32,
    pub hits: u64,
    /// Time from this line's events to the next event in the same frame, callees included,
    /// not counted again while the same line is already running further up the stack.
    pub time_ns: u64,
    /// Time of the line itself: `time_ns` minus the time of traced (your) code it called.
    pub self_ns: u64,
    pub source: String,
    /// What the line did to memory (zero with `--no-memory`).
    #[serde(flatten)]
    pub memory: memory::LineMemory,
    /// How many processes ran this line (its figures are their sum).
    pub processes: u32,
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
    /// Time in the function's own lines: `total_ns` minus the traced (your) code it called.
    pub self_ns: u64,
}

#[cfg(test)]
pub(crate) mod sample {
    use super::*;

    /// A hand-made report: renderers are tested without running anything. One long literal on
    /// purpose: the test data reads top to bottom as the report it stands for.
    pub fn report(partial: bool) -> Report {
        let src = [
            "def fib(n):",
            "    if n < 2:",
            "        return n",
            "    return fib(n - 1) + fib(n - 2)",
            "",
            "",
            "",
            "",
            "",
            "",
            "print(fib(20))",
        ];
        let line = |line: u32, hits: u64, time_ns: u64, self_ns: u64| Line {
            line,
            hits,
            time_ns,
            self_ns,
            source: src[line as usize - 1].to_string(),
            memory: memory::LineMemory {
                alloc_bytes: hits * 64,
                allocations: hits,
                freed_bytes: hits * 32,
                frees: hits / 2,
                objects_created: hits,
                objects_freed: hits / 2,
                ..Default::default()
            },
            processes: 1,
        };
        let mut r = Report {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            refscope_version: "0.0.0".into(),
            python: Python {
                version: "3.11.7".into(),
                executable: "/usr/bin/python3".into(),
                tracer: "test".into(),
                clock: "tsc".into(),
            },
            program: Program {
                kind: "script".into(),
                target: "fib.py".into(),
                argv: vec!["--n".into(), "20".into()],
            },
            outcome: Outcome {
                status: if partial { "signalled" } else { "exited" }.into(),
                exit_code: (!partial).then_some(0),
                signal: partial.then(|| "SIGKILL".into()),
                partial,
                truncated: false,
                description: if partial {
                    "the program was killed by SIGKILL after 0.012 s"
                } else {
                    "the program exited with code 0"
                }
                .into(),
                last_line: Some(Location {
                    file: "fib.py".into(),
                    line: 4,
                }),
                unmeasured: None,
            },
            wall_ns: 12_000_000,
            line_events: 54_730,
            files: vec![FileReport {
                path: "/work/fib.py".into(),
                display: "fib.py".into(),
                lines: vec![
                    line(1, 1, 400, 400),
                    line(2, 21_891, 900_000, 900_000),
                    line(3, 10_946, 310_000, 310_000),
                    line(4, 10_945, 11_200_000, 9_700_000),
                    line(11, 1, 11_900_000, 10_000),
                ],
                source: src.iter().map(|s| s.to_string()).collect(),
            }],
            functions: vec![
                Function {
                    name: "<module>".into(),
                    qualname: "<module>".into(),
                    file: "fib.py".into(),
                    line: 1,
                    calls: 1,
                    total_ns: 11_950_000,
                    self_ns: 50_000,
                },
                Function {
                    name: "fib".into(),
                    qualname: "fib".into(),
                    file: "fib.py".into(),
                    line: 1,
                    calls: 21_891,
                    total_ns: 11_890_000,
                    self_ns: 11_890_000,
                },
            ],
            memory:
                (!partial).then(|| {
                    let at = |line| {
                        Some(Location {
                            file: "fib.py".into(),
                            line,
                        })
                    };
                    memory::Memory {
                        domains: vec!["mem".into(), "obj".into()],
                        total: memory::LineMemory {
                            alloc_bytes: 5_000_000,
                            allocations: 40_000,
                            freed_bytes: 4_900_000,
                            frees: 39_000,
                            objects_created: 30_000,
                            objects_freed: 29_500,
                            ..Default::default()
                        },
                        outside: Default::default(),
                        heap_end_bytes: 100_000,
                        native_end_bytes: 0,
                        peak: Some(memory::Peak {
                            bytes: 4_200_000,
                            t_ns: 6_000_000,
                            at: at(4),
                            source: src[3].into(),
                            stack: vec![memory::StackEntry {
                                function: "<module>".into(),
                                file: "fib.py".into(),
                                line: 11,
                            }],
                        }),
                        timeline: (0..8)
                            .map(|i| memory::TimePoint {
                                t_ns: i * 1_500_000,
                                heap_bytes: [0, 1, 3, 4, 4, 2, 1, 0][i as usize] * 1_000_000,
                                native_bytes: 0,
                                rss_bytes: 20_000_000 + [0, 1, 3, 4, 4, 4, 4, 4][i as usize] * 1_000_000,
                            })
                            .collect(),
                        rss_end: None,
                        explanation:
                            "The Python heap fell by 3.9 MiB after its peak at fib.py:4, but RSS came down only 0 B."
                                .into(),
                        gc: memory::Gc {
                            runs: [3, 1, 0],
                            collected: 12,
                            uncollectable: 0,
                            time_ns: 90_000,
                            list: vec![memory::GcRun {
                                generation: 1,
                                collected: 12,
                                uncollectable: 0,
                                t_ns: 5_000_000,
                                duration_ns: 40_000,
                                at: at(4),
                            }],
                        },
                        survivors: vec![memory::Survivor {
                            at: at(11),
                            source: src[10].into(),
                            blocks: 3,
                            bytes: 100_000,
                            grew: true,
                        }],
                        free_lists: Default::default(),
                    }
                }),
            processes: Vec::new(),
        };
        r.processes.push(Process {
            pid: 4242,
            ppid: 4241,
            origin: "main".into(),
            finished: !partial,
            description: r.outcome.description.clone(),
            last_line: r.outcome.last_line.clone(),
            unmeasured: None,
            wall_ns: r.wall_ns,
            line_events: r.line_events,
            peak_bytes: r.memory.as_ref().and_then(|m| m.peak.as_ref()).map(|p| p.bytes),
            files: r.files.clone(),
            functions: r.functions.clone(),
        });
        r
    }
}
