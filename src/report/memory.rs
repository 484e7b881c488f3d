//! The memory part of a run's report: per-line allocations, the heap and RSS over time, the gap
//! between them explained, GC runs and what survives.

use super::run::Location;
use crate::record::{
    PymallocStats, W_ALLOCS, W_ALLOC_BYTES, W_FREED_BYTES, W_FREES, W_NATIVE_ALLOCS, W_NATIVE_ALLOC_BYTES,
    W_NATIVE_FREED_BYTES, W_NATIVE_FREES, W_OBJS_FREED, W_OBJS_NEW,
};
use serde::{Deserialize, Serialize};

/// What one line did to memory. Frees are charged to the line that ran when the block was freed
/// (the line that dropped the last reference), not to the line that allocated it. Bytes and
/// blocks count Python's allocators and native blocks together; `native_*` is the native part.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LineMemory {
    pub alloc_bytes: u64,
    pub allocations: u64,
    pub freed_bytes: u64,
    pub frees: u64,
    /// Blocks of the object domain: objects (and a few object-sized buffers). Objects reused from
    /// CPython's free lists (floats, tuples, lists, dicts) never reach the allocator.
    pub objects_created: u64,
    pub objects_freed: u64,
    /// Of `alloc_bytes` and `freed_bytes`: blocks extension modules and C libraries took from the
    /// C allocator directly (numpy's array data, for one).
    #[serde(default)]
    pub native_alloc_bytes: u64,
    #[serde(default)]
    pub native_freed_bytes: u64,
}

impl LineMemory {
    pub fn from_counters(c: &[u64]) -> LineMemory {
        LineMemory {
            alloc_bytes: c[W_ALLOC_BYTES] + c[W_NATIVE_ALLOC_BYTES],
            allocations: c[W_ALLOCS] + c[W_NATIVE_ALLOCS],
            freed_bytes: c[W_FREED_BYTES] + c[W_NATIVE_FREED_BYTES],
            frees: c[W_FREES] + c[W_NATIVE_FREES],
            objects_created: c[W_OBJS_NEW],
            objects_freed: c[W_OBJS_FREED],
            native_alloc_bytes: c[W_NATIVE_ALLOC_BYTES],
            native_freed_bytes: c[W_NATIVE_FREED_BYTES],
        }
    }

    pub fn add(&mut self, o: &LineMemory) {
        self.alloc_bytes += o.alloc_bytes;
        self.allocations += o.allocations;
        self.freed_bytes += o.freed_bytes;
        self.frees += o.frees;
        self.objects_created += o.objects_created;
        self.objects_freed += o.objects_freed;
        self.native_alloc_bytes += o.native_alloc_bytes;
        self.native_freed_bytes += o.native_freed_bytes;
    }

    pub fn is_empty(&self) -> bool {
        self.allocations == 0 && self.frees == 0
    }

    pub fn net(&self) -> i64 {
        self.alloc_bytes as i64 - self.freed_bytes as i64
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    /// What was followed: Python's allocator domains (PEP 445) and `native`, the C allocator
    /// called straight from extension modules and the libraries they load.
    pub domains: Vec<String>,
    /// Totals over the whole run, the outside bucket included.
    pub total: LineMemory,
    /// Allocations made while none of your code ran (interpreter start-up and shutdown work,
    /// threads before they reach your code).
    pub outside: LineMemory,
    /// Python heap: bytes in blocks allocated since the program started and not yet freed.
    pub heap_end_bytes: u64,
    /// Native blocks allocated since the program started and not yet freed.
    #[serde(default)]
    pub native_end_bytes: u64,
    /// The Python heap and native blocks together at their highest.
    pub peak: Option<Peak>,
    /// Heap and resident memory through the run, sampled every few milliseconds from outside.
    pub timeline: Vec<TimePoint>,
    /// Where the process's resident memory was at the end of the program (not for partial runs).
    pub rss_end: Option<RssSplit>,
    /// One plain sentence on why RSS did or did not come down when the heap did.
    pub explanation: String,
    pub gc: Gc,
    /// Blocks still allocated when the program ended, by the line that allocated them: first the
    /// lines that ran more than once (leak candidates: memory that grew while the program ran),
    /// then imports and lines that ran once (state set up by design), each largest first. Blocks
    /// holding dead objects kept for reuse are not here (`free_lists`). Empty for partial runs.
    pub survivors: Vec<Survivor>,
    /// Blocks still allocated at the end that hold dead objects their type keeps for reuse
    /// (CPython's free lists of tuples, lists, dicts, floats; 3.9's zombie frames).
    #[serde(default)]
    pub free_lists: Blocks,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Blocks {
    pub blocks: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Peak {
    pub bytes: u64,
    /// Time since the program started.
    pub t_ns: u64,
    pub at: Option<Location>,
    pub source: String,
    /// Your frames at the peak, outermost first.
    pub stack: Vec<StackEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackEntry {
    pub function: String,
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimePoint {
    pub t_ns: u64,
    pub heap_bytes: u64,
    #[serde(default)]
    pub native_bytes: u64,
    /// Resident memory of the process, refscope's own bookkeeping taken out.
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RssSplit {
    pub rss_bytes: u64,
    /// Live small blocks inside pymalloc's arenas (objects of 512 bytes or less).
    pub pymalloc_live_bytes: u64,
    /// Held by pymalloc but free: free blocks, empty pools, headers and rounding.
    pub pymalloc_free_bytes: u64,
    /// Live blocks over 512 bytes allocated by the program (list and dict buffers, big objects).
    pub large_live_bytes: u64,
    /// Live native blocks allocated by your lines (numpy arrays, C library buffers).
    #[serde(default)]
    pub native_live_bytes: u64,
    /// refscope's own table of live blocks.
    pub refscope_bytes: u64,
    /// Everything else: the interpreter and C libraries, memory the C allocator keeps after a
    /// free, blocks that predate the program.
    pub other_bytes: u64,
    pub pymalloc: PymallocStats,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Gc {
    /// Collections per generation (0, 1, 2).
    pub runs: [u64; 3],
    pub collected: u64,
    pub uncollectable: u64,
    pub time_ns: u64,
    /// Each collection, in order (the first 10,000).
    pub list: Vec<GcRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GcRun {
    pub generation: u8,
    pub collected: u64,
    pub uncollectable: u64,
    pub t_ns: u64,
    pub duration_ns: u64,
    /// The line running when the collection started; None: outside your code.
    pub at: Option<Location>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Survivor {
    /// None: allocated outside your code.
    pub at: Option<Location>,
    pub source: String,
    pub blocks: u64,
    pub bytes: u64,
    /// The allocating line ran more than once and is no import: memory that grew while the
    /// program ran (a leak candidate), not state set up once.
    #[serde(default)]
    pub grew: bool,
}
