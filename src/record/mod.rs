//! Plain records: every type that crosses from a producer (the tracer, the memory hooks, explain's
//! step tracer, the heap census, size measures, bench workers) to a consumer (report builders and
//! renderers). Producers write them, consumers read them, and neither imports the other.
//!
//! This module imports nothing of the crate but `error`.

pub mod bench;
pub mod explain;
pub mod heap;
pub mod job;
pub mod size;

use serde::{Deserialize, Serialize};

/// Counter slots hold SLOT_WORDS u64 each, indexed by the `W_*` constants. A function's slot uses
/// the first three (calls, ticks, self ticks).
pub const SLOT_WORDS: usize = 13;
pub const W_HITS: usize = 0;
pub const W_TICKS: usize = 1;
pub const W_SELF: usize = 2;
pub const W_ALLOC_BYTES: usize = 3;
pub const W_ALLOCS: usize = 4;
pub const W_FREED_BYTES: usize = 5;
pub const W_FREES: usize = 6;
pub const W_OBJS_NEW: usize = 7;
pub const W_OBJS_FREED: usize = 8;
/// Native blocks: what extension modules and C libraries take from the C allocator directly.
pub const W_NATIVE_ALLOC_BYTES: usize = 9;
pub const W_NATIVE_ALLOCS: usize = 10;
pub const W_NATIVE_FREED_BYTES: usize = 11;
pub const W_NATIVE_FREES: usize = 12;
pub const NO_SLOT: u32 = u32::MAX;

/// `refscope profile`: call-tree nodes past this many fold into their parent (a recursion over
/// ever new paths would otherwise grow the tree without end); FLAG_TRUNCATED tells it happened.
pub const MAX_NODES: u32 = 1 << 20;

/// Set once the program ended through the interpreter's normal shutdown.
pub const FLAG_FINISHED: u32 = 1;
/// Set when the log or the slots ran out of room: later lines were not recorded.
pub const FLAG_TRUNCATED: u32 = 2;
/// Set when the program ended with an uncaught KeyboardInterrupt.
pub const FLAG_INTERRUPTED: u32 = 4;

/// A rare record, appended to the capture's log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Record {
    /// The worker started: what it runs and on which interpreter.
    Start {
        python: String,
        executable: String,
        tracer: String,
        clock: String,
    },
    /// The process this capture belongs to. A forked child's capture starts with a copy of its
    /// parent's log: of the records before the last `Process`, only the interpreter, files, code
    /// objects and lines (which its slots keep) are its own.
    Process { pid: u32, ppid: u32, origin: Origin },
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
    /// A heap census (`refscope heap`).
    Heap { census: heap::HeapReport },
    /// One cyclic garbage collection and the line that was running when it started.
    Gc {
        generation: u8,
        collected: u64,
        uncollectable: u64,
        start_ticks: u64,
        ticks: u64,
        slot: u32,
    },
    /// Bytes in live blocks over 512 bytes (outside pymalloc's arenas) at the end.
    LargeLive { bytes: u64 },
    /// Blocks still allocated when the program ended, by the slot of the line that allocated them.
    Survivors { rows: Vec<(u32, u64, u64)> },
    /// Blocks still allocated at the end that hold dead objects their type keeps for reuse.
    FreeLists { blocks: u64, bytes: u64 },
    /// `refscope explain`: one executed line and the state after it.
    Step { step: explain::Step },
    /// `refscope explain`: the limits in force (logged again when the step cap stopped the program).
    ExplainLimits { limits: explain::Limits },
    /// Measuring stopped on a thread at this line (NO_SLOT: before any line), and why.
    Lost { slot: u32, reason: String },
    /// `refscope profile`: a function, the first time it is called. Python functions carry
    /// their code object's `co_filename`, `co_firstlineno` and `co_name` (cProfile's key) in
    /// `file`, `line` and `label`; C functions and classes `~`, 0 and cProfile's label.
    Func {
        id: u32,
        kind: FuncKind,
        name: String,
        label: String,
        file: String,
        line: u32,
        /// In your code (the files `run` would trace).
        yours: bool,
    },
    /// `refscope profile`: a node of a thread's call tree, a function (`func`) called from the
    /// node `parent`, with its counter slot (calls, total and self ticks, memory). A thread's
    /// root has parent and func NO_SLOT.
    Node {
        slot: u32,
        parent: u32,
        func: u32,
        thread: u32,
    },
    /// `refscope profile`: a thread, when it first ran (again once its name is known).
    Thread { id: u32, name: String },
    /// `refscope profile`, at the end: the calls of at least `min_ticks` for the flame chart, as
    /// (node slot, start, end) on the clock of the node's thread less the profiler's own time.
    Spans { min_ticks: u64, rows: Vec<(u32, u64, u64)> },
    /// The Python allocator's own statistics, and the process's resident memory, at a moment.
    Pymalloc {
        when: String,
        stats: PymallocStats,
        rss: u64,
    },
}

/// What a profiled function is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FuncKind {
    Python,
    /// A built-in function or method (C code).
    Builtin,
    /// A built-in class, called (`range(10)`, `int(s)`): seen on 3.12+ only.
    Class,
}

/// How a measured process came to be.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The program refscope started.
    Main,
    /// A fork of a measured process (multiprocessing's fork and forkserver, `os.fork`).
    Fork,
    /// A new interpreter a measured process started (multiprocessing's spawn, `subprocess`).
    Spawn,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Main => "main",
            Origin::Fork => "fork",
            Origin::Spawn => "spawn",
        }
    }
}

/// The memory figures a worker keeps in its capture header, as read back.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MemState {
    pub on: bool,
    pub outside_slot: Option<u32>,
    pub heap: u64,
    /// Native blocks were followed, and the bytes in them now.
    pub native_on: bool,
    pub native: u64,
    /// Python heap and native blocks together, at their highest.
    pub peak: u64,
    pub peak_ticks: u64,
    pub peak_slot: Option<u32>,
    /// (function slot, line slot), outermost first.
    pub peak_stack: Vec<(u32, u32)>,
    pub bookkeeping: u64,
    pub gc_runs: [u64; 3],
    pub gc_collected: u64,
    pub gc_uncollectable: u64,
    pub gc_ticks: u64,
}

/// Everything a capture held when it was read.
#[derive(Debug, Default, Clone)]
pub struct Capture {
    pub records: Vec<Record>,
    /// The counters of each slot, as the worker left them.
    pub counters: Vec<[u64; SLOT_WORDS]>,
    pub flags: u32,
    pub last_line: Option<u32>,
    pub start_ticks: u64,
    pub end_ticks: u64,
    pub mem: MemState,
    /// False when the worker never opened the file (it died before starting).
    pub started: bool,
}

impl Capture {
    /// The user error a worker reported instead of running the program, if any.
    pub fn refused(&self) -> Option<crate::error::Error> {
        self.records.iter().find_map(|r| match r {
            Record::NoModule { name } => Some(crate::error::Error::NoModule(name.clone())),
            _ => None,
        })
    }
}

/// The small-object allocator's own account (what `sys._debugmallocstats()` prints).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PymallocStats {
    /// Arenas currently held from the OS, and the size of each.
    pub arenas: u64,
    pub arena_size: u64,
    /// Bytes in blocks handed out (live small objects and buffers).
    pub allocated: u64,
    /// Bytes in free blocks of pools in use, plus wholly unused pools.
    pub free: u64,
    /// Pool headers, rounding up to a size class, arena alignment.
    pub overhead: u64,
}

impl PymallocStats {
    pub fn held(&self) -> u64 {
        self.arenas * self.arena_size
    }
}

/// One point of the heap and RSS timeline the launcher samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub ticks: u64,
    pub heap: u64,
    pub native: u64,
    pub rss: u64,
    /// refscope's own memory in the worker at that moment (part of `rss`).
    pub bookkeeping: u64,
    pub slot: Option<u32>,
}

/// A child process's capture, as the launcher found it once the program had ended.
#[derive(Debug, Clone)]
pub struct Child {
    pub pid: u32,
    pub capture: Capture,
    /// Still running when its capture was read.
    pub running: bool,
    /// Killed by refscope with the program, at its timeout.
    pub stopped: bool,
}

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ended {
    Exited(i32),
    Signalled(i32),
    TimedOut(f64),
}
