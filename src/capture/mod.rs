//! The capture file: everything a worker measures, in a file both processes map.
//!
//! The worker bumps counters in place and appends rare records (files, functions, lines) to a
//! log whose committed length is published last, so whatever happens to the worker (exit,
//! `os._exit`, segfault, SIGKILL, timeout) the launcher reads every figure up to that instant.

mod dir;
mod fork;
mod reader;
mod writer;

pub use dir::{alive, map_error, RunDir};
pub use fork::followed;

pub use reader::Reader;
pub use writer::Writer;

use crate::record::{MemState, NO_SLOT, SLOT_WORDS};
use std::sync::atomic::{AtomicU32, AtomicU64};

pub const MAGIC: [u8; 8] = *b"RFSCOPE1";
pub const FORMAT_VERSION: u32 = 2;
pub const HEADER_SIZE: usize = 4096;
pub const LOG_CAPACITY: usize = 32 << 20;
/// Counter slots of `record::SLOT_WORDS` words each.
pub const SLOT_CAPACITY: usize = 2 << 20;
/// Frames of the call stack kept for the heap's peak.
pub const PEAK_STACK: usize = 64;
pub const SLOT_SIZE: usize = 8 * SLOT_WORDS;
pub const FILE_SIZE: usize = HEADER_SIZE + LOG_CAPACITY + SLOT_CAPACITY * SLOT_SIZE;

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
    /// Memory tracking: written by the allocator hooks as they go, so a killed run keeps them.
    pub mem: MemHeader,
}

#[repr(C)]
pub struct MemHeader {
    /// 1 when the allocator hooks were installed.
    pub on: AtomicU32,
    /// The slot that collects allocations made while no line of your code runs.
    pub outside_slot: AtomicU32,
    /// Bytes in blocks allocated since tracking began and not freed yet.
    pub heap: AtomicU64,
    /// 1 when native blocks are followed; bytes in those allocated since and not freed yet.
    pub native_on: AtomicU32,
    pub native: AtomicU64,
    /// The Python heap and native blocks together, at their highest.
    pub peak: AtomicU64,
    pub peak_ticks: AtomicU64,
    pub peak_slot: AtomicU32,
    /// Frames in `peak_stack` (outermost first): (function slot, line slot).
    pub peak_depth: AtomicU32,
    pub peak_stack: [[AtomicU32; 2]; PEAK_STACK],
    /// refscope's own memory inside the worker (the table of live blocks).
    pub bookkeeping: AtomicU64,
    /// Cyclic GC: runs per generation, objects collected and uncollectable, ticks spent.
    pub gc_runs: [AtomicU64; 3],
    pub gc_collected: AtomicU64,
    pub gc_uncollectable: AtomicU64,
    pub gc_ticks: AtomicU64,
}

impl MemHeader {
    pub fn read(&self) -> MemState {
        use std::sync::atomic::Ordering::Relaxed;
        let slot = |v: u32| (v != NO_SLOT).then_some(v);
        let depth = (self.peak_depth.load(Relaxed) as usize).min(PEAK_STACK);
        MemState {
            on: self.on.load(Relaxed) == 1,
            outside_slot: slot(self.outside_slot.load(Relaxed)),
            heap: self.heap.load(Relaxed),
            native_on: self.native_on.load(Relaxed) == 1,
            native: self.native.load(Relaxed),
            peak: self.peak.load(Relaxed),
            peak_ticks: self.peak_ticks.load(Relaxed),
            peak_slot: slot(self.peak_slot.load(Relaxed)),
            peak_stack: self.peak_stack[..depth]
                .iter()
                .map(|[c, l]| (c.load(Relaxed), l.load(Relaxed)))
                .collect(),
            bookkeeping: self.bookkeeping.load(Relaxed),
            gc_runs: std::array::from_fn(|g| self.gc_runs[g].load(Relaxed)),
            gc_collected: self.gc_collected.load(Relaxed),
            gc_uncollectable: self.gc_uncollectable.load(Relaxed),
            gc_ticks: self.gc_ticks.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, FLAG_FINISHED};

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
        // SAFETY: slot `s` is in the mapping, which `w` keeps alive.
        unsafe {
            *c.add(SLOT_WORDS * s as usize) += 5;
            *c.add(SLOT_WORDS * s as usize + 1) += 99;
            *c.add(SLOT_WORDS * s as usize + 2) += 42;
        }
        w.set_flag(FLAG_FINISHED);
        let cap = Reader::parse(&std::fs::read(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(cap.records, vec![rec]);
        assert_eq!(cap.counters, vec![[5, 99, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]);
        assert_eq!(cap.flags, FLAG_FINISHED);
        assert!(cap.started);
    }

    #[test]
    fn a_fork_s_log_keeps_only_what_names_its_slots_from_before_it_began() {
        use crate::record::Origin;
        let path = std::env::temp_dir().join(format!("refscope-fork-{}.capture", std::process::id()));
        let mut w = Writer::create(&path).unwrap();
        let process = |pid, origin| Record::Process { pid, ppid: 1, origin };
        let line = Record::Line {
            slot: 0,
            file: 0,
            line: 3,
        };
        let lost = Record::Lost {
            slot: 0,
            reason: "parent's".into(),
        };
        for r in [process(10, Origin::Main), line.clone(), lost, process(11, Origin::Fork)] {
            w.log(&r);
        }
        let cap = Reader::parse(&std::fs::read(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(cap.records, vec![line, process(11, Origin::Fork)]);
    }

    #[test]
    fn a_file_the_worker_never_wrote_reads_as_not_started() {
        assert!(!Reader::parse(&vec![0u8; FILE_SIZE]).started);
    }
}
