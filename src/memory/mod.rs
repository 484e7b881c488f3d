//! Memory per line: CPython's object and mem allocator domains (PEP 445) wrapped by hooks that
//! charge every block to the line of your code running on the allocating thread.
//!
//! The hooks call only Rust code, whose own allocations go to libc and never come back here.
//! Both domains run with the GIL held, which serialises all state below. Each live block is
//! kept in a table (address → size and line), so a free is charged with its real size and
//! whatever is still allocated at exit is grouped by the line that allocated it. refscope's own
//! work (tracer callbacks, the GC callback) is paused: what it allocates is not counted.

mod gc;
mod live;
mod native;
mod pymalloc;
pub mod rss;

use crate::capture::{Header, MemHeader, Writer, PEAK_STACK};
use crate::clock;
use crate::cpython::GilCell;
use crate::record::{
    Record, NO_SLOT, SLOT_WORDS, W_ALLOCS, W_ALLOC_BYTES, W_FREED_BYTES, W_FREES, W_OBJS_FREED, W_OBJS_NEW,
};
use crate::site::{self, Pause};
use pyo3::ffi::{self, PyMemAllocatorDomain, PyMemAllocatorEx};
use pyo3::prelude::*;
use rustc_hash::FxHashMap;
use std::ffi::c_void;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// pymalloc's small-request threshold: larger blocks go to the C allocator.
const SMALL: u64 = 512;

struct Domain {
    original: PyMemAllocatorEx,
    objects: bool,
}

struct Memory {
    live: live::Live,
    counters: *mut u64,
    header: *const Header,
    outside: u32,
    heap: u64,
    /// The part of `heap` in blocks over SMALL bytes (pymalloc hands those to malloc).
    large: u64,
    domains: [Option<Box<Domain>>; 2],
}

static STATE: GilCell<Option<Memory>> = GilCell::new(None);

impl Memory {
    #[inline(always)]
    fn add(&self, slot: u32, word: usize, v: u64) {
        // SAFETY: slot < SLOT_CAPACITY, so the word is inside the capture mapping.
        unsafe { *self.counters.add(SLOT_WORDS * slot as usize + word) += v };
    }

    #[inline(always)]
    #[cfg_attr(not(Py_3_11), allow(dead_code))]
    fn sub(&self, slot: u32, word: usize, v: u64) {
        // SAFETY: slot < SLOT_CAPACITY, so the word is inside the capture mapping.
        unsafe {
            let w = self.counters.add(SLOT_WORDS * slot as usize + word);
            *w = (*w).saturating_sub(v);
        }
    }

    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: the capture mapping outlives the hooks (they are removed before it is unmapped).
        unsafe { &*self.header }
    }

    #[inline(always)]
    fn slot(&self, s: u32) -> u32 {
        if s == NO_SLOT {
            self.outside
        } else {
            s
        }
    }

    #[inline(always)]
    fn alloc(&mut self, p: *mut c_void, size: usize, object: bool) {
        let Some(cur) = site::current() else { return };
        if p.is_null() {
            return;
        }
        let slot = self.slot(cur);
        let size = size as u64;
        self.live.insert(p as usize, size, slot);
        self.add(slot, W_ALLOC_BYTES, size);
        self.add(slot, W_ALLOCS, 1);
        if object {
            self.add(slot, W_OBJS_NEW, 1);
        }
        self.heap += size;
        if size > SMALL {
            self.large += size;
        }
        let h = &self.header().mem;
        h.heap.store(self.heap, Relaxed);
        let total = self.heap + native::live_bytes();
        if total > h.peak.load(Relaxed) {
            new_peak(h, total, slot);
        }
        if self.live.take_grown() {
            self.header().mem.bookkeeping.store(self.live.bytes() as u64, Relaxed);
        }
    }

    #[inline(always)]
    fn free(&mut self, p: *mut c_void, object: bool) {
        let Some((size, _)) = self.live.remove(p as usize) else {
            return;
        };
        let slot = self.slot(site::line());
        self.add(slot, W_FREED_BYTES, size);
        self.add(slot, W_FREES, 1);
        if object {
            self.add(slot, W_OBJS_FREED, 1);
        }
        self.heap -= size;
        if size > SMALL {
            self.large -= size;
        }
        self.header().mem.heap.store(self.heap, Relaxed);
    }
}

/// The peak whose call stack was last copied, and at which line.
static STACK_PEAK: AtomicU64 = AtomicU64::new(0);
static STACK_SLOT: AtomicU64 = AtomicU64::new(NO_SLOT as u64);

/// A new peak of the Python heap and native blocks together, from any thread: its line always;
/// its call stack (this thread's) when the line changed or the peak grew by more than 1/64 since
/// the last copy (a growing loop would otherwise copy on every block). Two threads reaching a
/// peak at once may leave the line of one with the stack of the other.
#[inline(never)]
fn new_peak(m: &MemHeader, total: u64, slot: u32) {
    m.peak.fetch_max(total, Relaxed);
    m.peak_slot.store(slot, Relaxed);
    m.peak_ticks.store(clock::ticks(), Relaxed);
    let last = STACK_PEAK.load(Relaxed);
    if slot as u64 != STACK_SLOT.load(Relaxed) || total > last + last / 64 {
        STACK_PEAK.store(total, Relaxed);
        STACK_SLOT.store(slot as u64, Relaxed);
        let mut depth = 0;
        crate::tracer::each_frame(|code, line| {
            if depth < PEAK_STACK {
                m.peak_stack[depth][0].store(code, Relaxed);
                m.peak_stack[depth][1].store(line, Relaxed);
                depth += 1;
            }
        });
        m.peak_depth.store(depth as u32, Relaxed);
    }
}

#[inline(always)]
fn state() -> Option<&'static mut Memory> {
    // SAFETY: the object and mem domains run with the GIL held, and no hook calls back into
    // Python, so no other reference to the state is live.
    unsafe { STATE.get() }.as_mut()
}

#[inline(always)]
fn domain(ctx: *mut c_void) -> &'static Domain {
    // SAFETY: ctx is the Box<Domain> installed with the hook; it is never freed.
    unsafe { &*(ctx as *const Domain) }
}

extern "C" fn hook_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let d = domain(ctx);
    let p = native::python(|| (d.original.malloc.unwrap())(d.original.ctx, size));
    if let Some(m) = state() {
        m.alloc(p, size, d.objects);
    }
    p
}

extern "C" fn hook_calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let d = domain(ctx);
    let p = native::python(|| (d.original.calloc.unwrap())(d.original.ctx, n, size));
    if let Some(m) = state() {
        m.alloc(p, n.saturating_mul(size), d.objects);
    }
    p
}

/// A resize counts as freeing the old block and allocating the new one.
extern "C" fn hook_realloc(ctx: *mut c_void, old: *mut c_void, size: usize) -> *mut c_void {
    let d = domain(ctx);
    let p = native::python(|| (d.original.realloc.unwrap())(d.original.ctx, old, size));
    if !p.is_null() {
        if let Some(m) = state() {
            if !old.is_null() {
                m.free(old, false);
            }
            m.alloc(p, size, false);
        }
    }
    p
}

extern "C" fn hook_free(ctx: *mut c_void, p: *mut c_void) {
    let d = domain(ctx);
    if !p.is_null() {
        if let Some(m) = state() {
            m.free(p, d.objects);
        }
    }
    native::python(|| (d.original.free.unwrap())(d.original.ctx, p))
}

const DOMAINS: [(PyMemAllocatorDomain, bool); 2] = [
    (PyMemAllocatorDomain::PYMEM_DOMAIN_MEM, false),
    (PyMemAllocatorDomain::PYMEM_DOMAIN_OBJ, true),
];

/// Starts tracking: from now on every block of the two domains is charged to a line.
pub fn install(py: Python<'_>, out: &mut Writer) {
    let _ = py;
    let outside = out.new_slot();
    if outside == NO_SLOT {
        return;
    }
    out.log(&Record::Line {
        slot: outside,
        file: u32::MAX,
        line: 0,
    });
    let counters = out.counters();
    let h = out.header();
    h.mem.outside_slot.store(outside, Relaxed);
    h.mem.on.store(1, Relaxed);
    let mut m = Memory {
        live: live::Live::new(),
        counters,
        header: h as *const Header,
        outside,
        heap: 0,
        large: 0,
        domains: [None, None],
    };
    for (i, (dom, objects)) in DOMAINS.into_iter().enumerate() {
        let mut original = PyMemAllocatorEx {
            ctx: std::ptr::null_mut(),
            malloc: None,
            calloc: None,
            realloc: None,
            free: None,
        };
        // SAFETY: `original` is a valid PyMemAllocatorEx to fill; the GIL is held.
        unsafe { ffi::PyMem_GetAllocator(dom, &mut original) };
        let d = Box::new(Domain { original, objects });
        let mut hook = PyMemAllocatorEx {
            ctx: &*d as *const Domain as *mut c_void,
            malloc: Some(hook_malloc),
            calloc: Some(hook_calloc),
            realloc: Some(hook_realloc),
            free: Some(hook_free),
        };
        m.domains[i] = Some(d);
        // SAFETY: GIL held. The hooks' context is the boxed Domain, which is never freed (see
        // `uninstall`). A hook that runs before STATE is set finds no state and only forwards.
        unsafe { ffi::PyMem_SetAllocator(dom, &mut hook) };
    }
    // SAFETY: GIL held, and no hook holds a borrow of STATE across this store.
    unsafe { *STATE.get() = Some(m) };
    STACK_PEAK.store(0, Relaxed);
    STACK_SLOT.store(NO_SLOT as u64, Relaxed);
    native::start(counters, h, outside);
    gc::install(py);
}

/// Puts CPython's own allocators back; blocks allocated meanwhile are theirs anyway.
pub fn uninstall(py: Python<'_>) {
    if !active() {
        return;
    }
    gc::uninstall(py);
    native::stop();
    // SAFETY: GIL held (a `Python` token); nothing below allocates through the hooks, so no
    // other borrow of STATE is live.
    let Some(m) = (unsafe { STATE.get() }).as_mut() else {
        return;
    };
    for (i, (dom, _)) in DOMAINS.into_iter().enumerate() {
        if let Some(d) = m.domains[i].take() {
            let mut original = d.original;
            // SAFETY: GIL held; puts back the allocator `install` read.
            unsafe { ffi::PyMem_SetAllocator(dom, &mut original) };
            // A block freed later may still carry this context if CPython cached it: keep it.
            std::mem::forget(d);
        }
    }
    // The hooks are gone; the table goes with the state.
    // SAFETY: GIL held, and no hook is left to borrow STATE.
    unsafe { *STATE.get() = None };
}

/// In a forked child, whose capture starts with zeroed counters: its peak and GC runs are its own
/// from `t` on. Blocks it inherited stay in the table, so freeing one is a free of the child's.
pub fn forked(t: u64) {
    let Some(m) = state() else { return };
    STACK_PEAK.store(0, Relaxed);
    STACK_SLOT.store(NO_SLOT as u64, Relaxed);
    let h = &m.header().mem;
    h.heap.store(m.heap, Relaxed);
    h.peak.store(m.heap + native::live_bytes(), Relaxed);
    h.peak_ticks.store(t, Relaxed);
    h.peak_slot.store(NO_SLOT, Relaxed);
    h.peak_depth.store(0, Relaxed);
    for g in &h.gc_runs {
        g.store(0, Relaxed);
    }
    h.gc_collected.store(0, Relaxed);
    h.gc_uncollectable.store(0, Relaxed);
    h.gc_ticks.store(0, Relaxed);
    gc::forked();
}

/// Stops counting a block (one CPython allocated only because a tracer is set).
#[cfg_attr(not(Py_3_11), allow(dead_code))]
pub fn forget(p: *mut c_void) {
    if let Some(m) = state() {
        if let Some((size, slot)) = m.live.remove(p as usize) {
            m.sub(slot, W_ALLOC_BYTES, size);
            m.sub(slot, W_ALLOCS, 1);
            m.sub(slot, W_OBJS_NEW, 1);
            m.heap -= size;
            if size > SMALL {
                m.large -= size;
            }
            m.header().mem.heap.store(m.heap, Relaxed);
        }
    }
}

/// Logs what is still allocated, grouped by the line that allocated it, and apart from it the
/// blocks that hold dead objects kept for reuse by their type (free lists).
fn survivors(out: &mut Writer) {
    let Some(m) = state() else { return };
    let mut by: FxHashMap<u32, (u64, u64)> = FxHashMap::default();
    let mut reuse = (0, 0);
    m.live.each(|p, size, slot| {
        // SAFETY: a block in the table is live, `size` bytes long.
        if unsafe { crate::cpython::kept_for_reuse(p, size as usize) } {
            reuse.0 += 1;
            reuse.1 += size;
            return;
        }
        let e = by.entry(slot).or_default();
        e.0 += 1;
        e.1 += size;
    });
    native::survivors(&mut by);
    let mut rows: Vec<_> = by.into_iter().map(|(s, (n, b))| (s, n, b)).collect();
    rows.sort_unstable_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    out.log(&Record::Survivors { rows });
    out.log(&Record::FreeLists {
        blocks: reuse.0,
        bytes: reuse.1,
    });
}

pub fn active() -> bool {
    state().is_some()
}

/// Logs the allocator's statistics and the resident memory now.
pub fn log_pymalloc(out: &mut Writer, when: &str) {
    let _p = Pause::new();
    if let Some(stats) = pymalloc::stats() {
        out.log(&Record::Pymalloc {
            when: when.to_string(),
            stats,
            rss: rss::resident(std::process::id()).unwrap_or(0),
        });
    }
}

/// At the end of the program: GC runs still buffered and what survives, then the hooks go.
pub fn finish(py: Python<'_>, out: &mut Writer) {
    if !active() {
        return;
    }
    let _p = Pause::new();
    gc::flush(out);
    gc::check_watched(py, out);
    survivors(out);
    if let Some(m) = state() {
        out.log(&Record::LargeLive { bytes: m.large });
    }
    uninstall(py);
    // pymalloc reports only while it is the installed allocator, so after the hooks are gone.
    log_pymalloc(out, "end");
}
