//! Call trees for `refscope profile`, shared by every CPython profiling backend (`cpython::Calls`).
//!
//! Each thread has a tree whose nodes are functions called from their parent node. Your code
//! always gets a node; so does whatever your code calls directly (a library function, a C
//! function, method or built-in class), and what that calls folds into it until your code runs
//! again. A node's counter slot holds its calls, total ticks and self ticks (total less its
//! child nodes'), with the profiler's own time taken out. A generator or coroutine is a call
//! when it starts, not when it resumes, and while it is suspended its time is no one's. With
//! memory on, allocations are charged to the node that runs.

use crate::capture::Writer;
use crate::cpython::{self, CCallable, CodeMark, GilCell};
use crate::record::{FuncKind, Record, FLAG_TRUNCATED, MAX_NODES, NO_SLOT, SLOT_WORDS, W_HITS, W_SELF, W_TICKS};
use crate::tracer::Filter;
use crate::{clock, site};
use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;
use std::cell::UnsafeCell;

pub static PROFILER: GilCell<Option<Profiler>> = GilCell::new(None);

thread_local! {
    static THREAD: UnsafeCell<Stack> = const { UnsafeCell::new(Stack::new()) };
}

struct Frame {
    /// The Python frame's key, or the `CCallable` of a C call.
    key: usize,
    c: bool,
    /// This call's node, or NO_SLOT when it folds into the node below it.
    node: u32,
    /// The node in effect: this call's, or the one it folds into.
    eff: u32,
    /// Calls made from this frame get nodes of their own (it runs your code).
    open: bool,
    generator: bool,
    t0: u64,
    ov0: u64,
    /// Ticks of child nodes during this call (taken out of its self time).
    child: u64,
}

/// What a new frame is (see `Frame`).
struct Opening {
    key: usize,
    c: bool,
    node: u32,
    open: bool,
    generator: bool,
}

pub struct Stack {
    frames: Vec<Frame>,
    /// This thread's number and its tree's root (NO_SLOT before its first event).
    thread: u32,
    root: u32,
    /// Ticks spent inside this thread's callbacks so far.
    overhead: u64,
    /// The profiling session this stack belongs to (`CodeMark::generation`).
    session: usize,
}

impl Stack {
    const fn new() -> Self {
        Stack {
            frames: Vec::new(),
            thread: NO_SLOT,
            root: NO_SLOT,
            overhead: 0,
            session: 0,
        }
    }

    fn eff(&self) -> u32 {
        self.frames.last().map_or(self.root, |f| f.eff)
    }
}

/// Runs `f` on this thread's stack and charges the time it took to the profiler's overhead.
#[inline(always)]
fn with_thread<R>(t_enter: u64, f: impl FnOnce(&mut Stack) -> R) -> R {
    THREAD.with(|c| {
        // SAFETY: thread-local, and callbacks never re-enter on one thread.
        let ts = unsafe { &mut *c.get() };
        let r = f(ts);
        site::set_line(ts.eff());
        ts.overhead += clock::ticks().wrapping_sub(t_enter);
        r
    })
}

/// A code object's mark: 0 none yet; IGNORED never profiled; else 1 + (function << 2 |
/// generator << 1 | yours).
const IGNORED: usize = usize::MAX;

pub struct Profiler {
    out: Writer,
    counters: *mut u64,
    filter: Filter,
    mark: CodeMark,
    funcs: u32,
    /// Functions not logged yet (logged when they first get a node).
    unlogged: FxHashMap<u32, Record>,
    c_funcs: FxHashMap<CCallable, u32>,
    children: FxHashMap<(u32, u32), u32>,
    threads: u32,
    nodes: u32,
    /// Calls long enough for the flame chart: (node, start, end) on the thread's clock less the
    /// profiler's time, in the order they ended; all of at least `span_min` ticks.
    spans: Vec<(u32, u64, u64)>,
    span_min: u64,
}

/// The flame chart keeps the longest calls, at most this many (a page draws them at once).
pub const SPAN_BUDGET: usize = 20_000;

impl Profiler {
    pub fn new(out: Writer, filter: Filter, mark: CodeMark) -> Profiler {
        let mut out = out;
        let counters = out.counters();
        Profiler {
            out,
            counters,
            filter,
            mark,
            funcs: 0,
            unlogged: FxHashMap::default(),
            c_funcs: FxHashMap::default(),
            children: FxHashMap::default(),
            threads: 0,
            nodes: 0,
            spans: Vec::new(),
            span_min: 0,
        }
    }

    pub fn writer(&self) -> &Writer {
        &self.out
    }

    pub fn writer_mut(&mut self) -> &mut Writer {
        &mut self.out
    }

    pub fn filter_mut(&mut self) -> &mut Filter {
        &mut self.filter
    }

    /// Marks a code object as never profiled (refscope's own bootstrap).
    pub fn ignore_code(&mut self, code: *mut ffi::PyObject) {
        // SAFETY: the worker calls this with the GIL held, on its live bootstrap code.
        unsafe { self.mark.set(code, IGNORED) };
    }

    #[inline(always)]
    fn add(&self, slot: u32, which: usize, v: u64) {
        // SAFETY: slot < SLOT_CAPACITY, so the word is inside the mapping.
        unsafe { *self.counters.add(SLOT_WORDS * slot as usize + which) += v };
    }

    /// The mark of `code`, registering it on first sight.
    ///
    /// # Safety
    /// GIL held; `code` is a live code object.
    #[inline(always)]
    unsafe fn code_mark(&mut self, code: *mut ffi::PyObject) -> usize {
        // SAFETY: the caller's promise is `get`'s.
        match unsafe { self.mark.get(code) } {
            // SAFETY: the caller's promise is `register`'s.
            0 => unsafe { self.register(code) },
            m => m,
        }
    }

    /// # Safety
    /// As `code_mark`.
    #[cold]
    unsafe fn register(&mut self, code: *mut ffi::PyObject) -> usize {
        // SAFETY: the caller's promise is `code_info`'s.
        let info = unsafe { cpython::code_info(code) };
        let yours = self.filter.own_code(&info.filename, code as usize) && self.filter.wants_calls(&info.filename);
        let generator = info.flags & cpython::CO_GENERATOR_LIKE != 0;
        let id = self.new_func(Record::Func {
            id: self.funcs,
            kind: FuncKind::Python,
            name: info.qualname,
            label: info.name,
            file: info.filename,
            line: info.first_line,
            yours,
        });
        let m = 1 + ((id as usize) << 2 | (generator as usize) << 1 | yours as usize);
        // SAFETY: GIL held, `code` live (the caller's promise).
        unsafe { self.mark.set(code, m) };
        m
    }

    fn new_func(&mut self, r: Record) -> u32 {
        let id = self.funcs;
        self.funcs += 1;
        self.unlogged.insert(id, r);
        id
    }

    /// The function id of a C callable, naming it on first sight.
    #[inline(always)]
    fn c_func(&mut self, c: CCallable, object: *mut ffi::PyObject) -> u32 {
        if let Some(&f) = self.c_funcs.get(&c) {
            return f;
        }
        self.new_c_func(c, object)
    }

    #[cold]
    fn new_c_func(&mut self, c: CCallable, object: *mut ffi::PyObject) -> u32 {
        // SAFETY: calls are reported with the GIL held, and `object` is the live callable.
        let names = unsafe { cpython::c_names(&Bound::from_borrowed_ptr(Python::assume_attached(), object)) };
        let id = self.new_func(Record::Func {
            id: self.funcs,
            kind: if names.class {
                FuncKind::Class
            } else {
                FuncKind::Builtin
            },
            name: names.name,
            label: names.label,
            file: "~".into(),
            line: 0,
            yours: false,
        });
        self.c_funcs.insert(c, id);
        id
    }

    /// The node of `func` called from `parent`, made on first sight; NO_SLOT once the tree is full.
    #[inline(always)]
    fn child(&mut self, parent: u32, func: u32, thread: u32) -> u32 {
        if let Some(&n) = self.children.get(&(parent, func)) {
            return n;
        }
        self.new_child(parent, func, thread)
    }

    #[cold]
    fn new_child(&mut self, parent: u32, func: u32, thread: u32) -> u32 {
        if let Some(r) = self.unlogged.remove(&func) {
            if !self.out.log(&r) {
                return NO_SLOT;
            }
        }
        if self.nodes >= MAX_NODES {
            self.out.set_flag(FLAG_TRUNCATED);
            return NO_SLOT;
        }
        let slot = self.out.new_slot();
        if slot == NO_SLOT
            || !self.out.log(&Record::Node {
                slot,
                parent,
                func,
                thread,
            })
        {
            return NO_SLOT;
        }
        self.nodes += 1;
        self.children.insert((parent, func), slot);
        slot
    }

    /// Numbers this thread and makes its root on its first event.
    #[inline(always)]
    fn thread(&mut self, ts: &mut Stack) {
        if ts.thread == NO_SLOT {
            self.new_thread(ts);
        }
    }

    #[cold]
    fn new_thread(&mut self, ts: &mut Stack) {
        ts.thread = self.threads;
        self.threads += 1;
        // The first thread with an event is the one the program starts on.
        let name = if ts.thread == 0 { "MainThread" } else { "" };
        self.out.log(&Record::Thread {
            id: ts.thread,
            name: name.into(),
        });
        let slot = self.out.new_slot();
        if slot != NO_SLOT {
            self.out.log(&Record::Node {
                slot,
                parent: NO_SLOT,
                func: NO_SLOT,
                thread: ts.thread,
            });
        }
        ts.root = slot;
    }

    /// Opens a call at `t`: `node` NO_SLOT folds it into the node below it.
    fn push(ts: &mut Stack, f: Opening, t: u64) {
        let eff = if f.node == NO_SLOT { ts.eff() } else { f.node };
        ts.frames.push(Frame {
            key: f.key,
            c: f.c,
            node: f.node,
            eff,
            open: f.open,
            generator: f.generator,
            t0: t,
            ov0: ts.overhead,
            child: 0,
        });
    }

    /// A Python frame starts or resumes.
    ///
    /// # Safety
    /// GIL held; `code` is the frame's live code object.
    #[inline(always)]
    unsafe fn enter(
        &mut self,
        ts: &mut Stack,
        key: usize,
        code: *mut ffi::PyObject,
        t: u64,
        resumed: impl FnOnce(bool) -> bool,
    ) {
        // SAFETY: the caller's promise.
        let m = unsafe { self.code_mark(code) };
        if m == IGNORED {
            return;
        }
        self.thread(ts);
        let v = m - 1;
        let (func, generator, yours) = ((v >> 2) as u32, v & 2 != 0, v & 1 != 0);
        let resumed = resumed(generator);
        let open_here = ts.frames.last().is_none_or(|f| f.open);
        let node = if yours || open_here {
            self.child(ts.eff(), func, ts.thread)
        } else {
            NO_SLOT
        };
        if node != NO_SLOT && !resumed {
            self.add(node, W_HITS, 1);
        }
        Self::push(
            ts,
            Opening {
                key,
                c: false,
                node,
                open: yours,
                generator,
            },
            t,
        );
    }

    fn close(&mut self, ts: &mut Stack, f: Frame, t: u64) {
        let dt = t.wrapping_sub(f.t0).saturating_sub(ts.overhead - f.ov0);
        let up = if f.node == NO_SLOT {
            f.child
        } else {
            self.add(f.node, W_TICKS, dt);
            self.add(f.node, W_SELF, dt.saturating_sub(f.child));
            if dt >= self.span_min {
                self.span(f.node, f.t0.wrapping_sub(f.ov0), dt);
            }
            dt
        };
        if let Some(p) = ts.frames.last_mut() {
            p.child += up;
        }
    }

    /// Keeps a call for the flame chart. Past twice the budget, only the longest `SPAN_BUDGET`
    /// stay and the bar rises; a call outlasts its callees, so a kept call's callers stay too.
    fn span(&mut self, node: u32, start: u64, dt: u64) {
        self.spans.push((node, start, start.wrapping_add(dt)));
        if self.spans.len() >= 2 * SPAN_BUDGET {
            self.keep_longest();
        }
    }

    /// Raises the bar above the `SPAN_BUDGET`-th longest call and drops the calls below it.
    fn keep_longest(&mut self) {
        let mut d: Vec<u64> = self.spans.iter().map(|s| s.2.wrapping_sub(s.1)).collect();
        let (_, kth, _) = d.select_nth_unstable_by(SPAN_BUDGET, |a, b| b.cmp(a));
        self.span_min = *kth + 1;
        let min = self.span_min;
        self.spans.retain(|s| s.2.wrapping_sub(s.1) >= min);
    }

    /// Logs the flame chart's calls (at the end: calls still open are closed by then).
    pub fn log_spans(&mut self) {
        if self.spans.len() > SPAN_BUDGET {
            self.keep_longest();
        }
        let spans = std::mem::take(&mut self.spans);
        self.out.log(&Record::Spans {
            min_ticks: self.span_min,
            rows: spans,
        });
    }

    /// Frame `key` ends; frames above it that ended unseen end too. True for a generator's.
    #[inline(always)]
    fn leave(&mut self, ts: &mut Stack, key: usize, t: u64) -> bool {
        let depth = match ts.frames.last() {
            Some(f) if f.key == key && !f.c => ts.frames.len() - 1,
            _ => match ts.frames.iter().rposition(|f| f.key == key && !f.c) {
                Some(d) => d,
                None => return false,
            },
        };
        let mut generator = false;
        while ts.frames.len() > depth {
            let f = ts.frames.pop().unwrap();
            generator = f.generator;
            self.close(ts, f, t);
        }
        generator
    }

    /// The running frame calls `object`; false when the running frame's calls fold into it.
    #[inline(always)]
    fn call(&mut self, ts: &mut Stack, c: Option<CCallable>, object: *mut ffi::PyObject, t: u64) -> bool {
        if !ts.frames.last().is_none_or(|f| f.open) {
            return false;
        }
        let Some(c) = c else {
            return true;
        };
        self.thread(ts);
        let func = self.c_func(c, object);
        let node = self.child(ts.eff(), func, ts.thread);
        if node != NO_SLOT {
            self.add(node, W_HITS, 1);
        }
        Self::push(
            ts,
            Opening {
                key: c.0,
                c: true,
                node,
                open: false,
                generator: false,
            },
            t,
        );
        true
    }

    #[inline(always)]
    fn c_return(&mut self, ts: &mut Stack, c: CCallable, t: u64) {
        if ts.frames.last().is_some_and(|f| f.c && f.key == c.0) {
            let f = ts.frames.pop().unwrap();
            self.close(ts, f, t);
        }
    }

    fn thread_started(&mut self, ts: &mut Stack, name: String) {
        self.thread(ts);
        self.out.log(&Record::Thread { id: ts.thread, name });
    }

    /// Charges every frame still open on this thread up to `t` (the program is ending).
    pub fn close_all(&mut self, t: u64) {
        with_thread(t, |ts| {
            if ts.session != self.mark.generation() {
                *ts = Stack::new();
                ts.session = self.mark.generation();
            }
            while let Some(f) = ts.frames.pop() {
                self.close(ts, f, t);
            }
        })
    }

    /// Events stopped reaching this thread (another tool took the hook): says so, and charges
    /// the frames still open up to now.
    pub fn lost(&mut self, reason: &str, t: u64) {
        self.out.log(&Record::Lost {
            slot: NO_SLOT,
            reason: reason.to_string(),
        });
        self.close_all(t);
    }
}

// The entry points of `cpython::Calls`, on this thread's stack.

#[inline(always)]
fn with<R>(t: u64, none: R, f: impl FnOnce(&mut Profiler, &mut Stack) -> R) -> R {
    // SAFETY: calls are reported with the GIL held and never re-enter.
    match unsafe { PROFILER.get() }.as_mut() {
        Some(p) => with_thread(t, |ts| {
            // What an earlier session (an earlier `refscope.profile()`) left on this thread goes.
            if ts.session != p.mark.generation() {
                *ts = Stack::new();
                ts.session = p.mark.generation();
            }
            f(p, ts)
        }),
        None => none,
    }
}

/// A Python frame starts or resumes (see `cpython::Calls::enter`).
#[inline(always)]
pub fn on_enter(key: usize, code: *mut ffi::PyObject, t: u64, resumed: impl FnOnce(bool) -> bool) {
    // SAFETY: `code` is the live code object of the event, reported with the GIL held.
    with(t, (), |p, ts| unsafe { p.enter(ts, key, code, t, resumed) })
}

/// A Python frame ends (see `cpython::Calls::leave`).
#[inline(always)]
pub fn on_leave(key: usize, t: u64) -> bool {
    with(t, false, |p, ts| p.leave(ts, key, t))
}

/// The running frame calls something (see `cpython::Calls::call`).
#[inline(always)]
pub fn on_call(c: Option<CCallable>, object: *mut ffi::PyObject, t: u64) -> bool {
    with(t, true, |p, ts| p.call(ts, c, object, t))
}

/// A C call ends (see `cpython::Calls::c_return`).
#[inline(always)]
pub fn on_c_return(c: CCallable, t: u64) {
    with(t, (), |p, ts| p.c_return(ts, c, t))
}

/// A thread started by `threading` is named (see `cpython::Calls::thread_started`).
pub fn on_thread_started(name: String) {
    let t = clock::ticks();
    let _pause = site::Pause::new();
    with(t, (), |p, ts| p.thread_started(ts, name))
}
