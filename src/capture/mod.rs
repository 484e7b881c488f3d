//! The capture file: everything a worker measures, in a file both processes map.
//!
//! The worker bumps counters in place and appends rare records (files, functions, lines) to a
//! log whose committed length is published last, so whatever happens to the worker (exit,
//! `os._exit`, segfault, SIGKILL, timeout) the launcher reads every figure up to that instant.

mod reader;
mod writer;

pub use reader::{Capture, Reader};
pub use writer::Writer;

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, AtomicU64};

pub const MAGIC: [u8; 8] = *b"RFSCOPE1";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 4096;
pub const LOG_CAPACITY: usize = 32 << 20;
/// Counter slots: each holds three u64: a line's hits, ticks and self ticks, or a function's
/// calls, ticks and self ticks.
pub const SLOT_CAPACITY: usize = 2 << 20;
pub const SLOT_WORDS: usize = 3;
pub const SLOT_SIZE: usize = 8 * SLOT_WORDS;
pub const FILE_SIZE: usize = HEADER_SIZE + LOG_CAPACITY + SLOT_CAPACITY * SLOT_SIZE;
pub const NO_SLOT: u32 = u32::MAX;

/// Set once the program ended through the interpreter's normal shutdown.
pub const FLAG_FINISHED: u32 = 1;
/// Set when the log or the slots ran out of room: later lines were not recorded.
pub const FLAG_TRUNCATED: u32 = 2;
/// Set when the program ended with an uncaught KeyboardInterrupt.
pub const FLAG_INTERRUPTED: u32 = 4;

#[repr(C)]
pub struct Header {
    pub magic: [u8; 8],
    pub version: u32,
    pub flags: AtomicU32,
    pub log_len: AtomicU64,
    pub slots_used: AtomicU32,
    /// The line slot most recently entered by any thread: where a killed program was.
    pub last_line: AtomicU32,
    pub start_ticks: AtomicU64,
    pub end_ticks: AtomicU64,
}

/// A rare record, appended to the log as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Record {
    /// The worker started: what it runs and on which interpreter.
    Start {
        pid: u32,
        python: String,
        executable: String,
        tracer: String,
        clock: String,
    },
    /// A traced source file.
    File { id: u32, path: String },
    /// A traced code object (function, method, lambda, comprehension, module body).
    Code {
        slot: u32,
        file: u32,
        name: String,
        qualname: String,
        line: u32,
    },
    /// A line of a traced file, with its counter slot.
    Line { slot: u32, file: u32, line: u32 },
    /// The worker found nothing to run (an unknown `-m` module) and exited without running it.
    NoModule { name: String },
    /// A heap census (`refscope heap`), as the JSON of a `report::heap::HeapReport`.
    Heap { report: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_worker_writes_the_launcher_reads() {
        let path = std::env::temp_dir().join(format!("refscope-test-{}.capture", std::process::id()));
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(FILE_SIZE as u64).unwrap();
        let mut w = Writer::open(path.to_str().unwrap()).unwrap();
        let rec = Record::Line {
            slot: 0,
            file: 0,
            line: 7,
        };
        assert!(w.log(&rec));
        let s = w.new_slot();
        let c = w.counters();
        unsafe {
            *c.add(SLOT_WORDS * s as usize) += 5;
            *c.add(SLOT_WORDS * s as usize + 1) += 99;
            *c.add(SLOT_WORDS * s as usize + 2) += 42;
        }
        w.set_flag(FLAG_FINISHED);
        let cap = Reader::parse(&std::fs::read(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(cap.records, vec![rec]);
        assert_eq!(cap.counters, vec![[5, 99, 42]]);
        assert_eq!(cap.flags, FLAG_FINISHED);
        assert!(cap.started);
    }

    #[test]
    fn a_file_the_worker_never_wrote_reads_as_not_started() {
        assert!(!Reader::parse(&vec![0u8; FILE_SIZE]).started);
    }
}
