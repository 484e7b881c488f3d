//! Line and function bookkeeping shared by every CPython tracing backend.
//!
//! Backends (in `cpython/`) turn interpreter events into `start`, `line` and `end` calls. Time is
//! charged between events: a line runs from its line event to the next event of its frame and
//! includes its callees, as line_profiler counts it. A line or function already running further
//! up the same thread's stack is not charged again (recursion is not double counted), and the
//! tracer's own time inside callbacks is subtracted from every open line and call.

mod filter;

pub use filter::Filter;

use crate::capture::Writer;
use crate::cpython::{self, CodeMark, GilCell, Leave};
use crate::record::{Record, NO_SLOT, SLOT_WORDS, W_HITS, W_SELF, W_TICKS};
use crate::{clock, site};
use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;
use std::cell::UnsafeCell;
use std::sync::atomic::Ordering;

pub static TRACER: GilCell<Option<Tracer>> = GilCell::new(None);

thread_local! {
    static THREAD: UnsafeCell<ThreadState> = const { UnsafeCell::new(ThreadState::new()) };
}

/// Runs `f` on this thread's state and charges the time it took to the tracer's overhead.
#[inline(always)]
pub fn with_thread<R>(t_enter: u64, f: impl FnOnce(&mut ThreadState) -> R) -> R {
    THREAD.with(|c| {
        // SAFETY: thread-local, and callbacks never re-enter on one thread (CPython disables
        // tracing while a tracing callback runs).
        let ts = unsafe { &mut *c.get() };
        ts.last = t_enter;
        let r = f(ts);
        site::set_line(ts.top_line());
        ts.overhead += clock::ticks().wrapping_sub(t_enter);
        r
    })
}

/// Calls `f(function slot, line slot)` for each traced frame of this thread, outermost first.
/// Only while no callback of this thread runs (the allocator hooks, outside refscope's own work).
pub fn each_frame(mut f: impl FnMut(u32, u32)) {
    THREAD.with(|c| {
        // SAFETY: no callback runs on this thread, so no other reference to its state is live.
        let ts = unsafe { &*c.get() };
        for fr in &ts.stack {
            f(fr.fn_slot, fr.line);
        }
    })
}

struct Frame {
    key: usize,
    code: u32,
    fn_slot: u32,
    line: u32,
    line_t0: u64,
    line_ov0: u64,
    /// Time of traced callees during the current line (subtracted for its self time).
    line_child: u64,
    call_t0: u64,
    call_ov0: u64,
    /// Time of traced callees during this call (subtracted for the function's self time).
    call_child: u64,
}

pub struct ThreadState {
    stack: Vec<Frame>,
    /// Per slot: how many frames of this thread have that line (or function) open.
    active: Vec<u32>,
    /// Ticks spent inside this thread's callbacks so far.
    overhead: u64,
    /// When the last event of this thread arrived.
    last: u64,
    /// The measuring session this state belongs to (`CodeMark::generation`).
    session: usize,
}

impl ThreadState {
    const fn new() -> Self {
        ThreadState {
            stack: Vec::new(),
            active: Vec::new(),
            overhead: 0,
            last: 0,
            session: 0,
        }
    }

    /// Forgets what an earlier session (an earlier `refscope.trace()` block) left on this thread.
    #[inline(always)]
    fn join(&mut self, session: usize) {
        if self.session != session {
            *self = ThreadState::new();
            self.session = session;
        }
    }

    #[inline(always)]
    fn open(&mut self, slot: u32) {
        let s = slot as usize;
        if s >= self.active.len() {
            self.active.resize(s + 1024, 0);
        }
        self.active[s] += 1;
    }

    /// Closes one use of `slot`; true when no frame of this thread still has it open.
    #[inline(always)]
    fn close(&mut self, slot: u32) -> bool {
        let a = &mut self.active[slot as usize];
        *a -= 1;
        *a == 0
    }

    pub fn top_key(&self) -> Option<usize> {
        self.stack.last().map(|f| f.key)
    }

    /// The line of your code this thread runs: the innermost traced frame that is on a line.
    fn top_line(&self) -> u32 {
        self.stack
            .iter()
            .rev()
            .find(|f| f.line != NO_SLOT)
            .map_or(NO_SLOT, |f| f.line)
    }
}

/// A code object's mark (`cpython::CodeMark`): none yet, not traced, or traced as `codes[m - 2]`.
const UNMARKED: usize = 0;
const UNTRACED: usize = 1;

pub struct Code {
    file: u32,
    slot: u32,
    /// Line slots indexed by `line - first_line`.
    lines: Vec<u32>,
    first_line: u32,
    generator: bool,
}

/// What a `Watch` runs when its line is reached, with refscope's own work paused.
pub type Then = Box<dyn FnMut(Python<'_>, &Filter, &mut Writer)>;

/// A line to stop at once, before it first runs (`refscope heap --at FILE:LINE`).
pub struct Watch {
    /// The file as given and the line.
    pub at: (String, u32),
    pub then: Then,
}

pub struct Tracer {
    out: Writer,
    counters: *mut u64,
    filter: Filter,
    mark: CodeMark,
    /// Strong references: a traced code object is never freed, so state kept by its address in
    /// the backends (a generator's bytecode, resume lines) stays its own.
    held: Vec<*mut ffi::PyObject>,
    codes: Vec<Code>,
    files: FxHashMap<String, Option<u32>>,
    file_lines: FxHashMap<(u32, u32), u32>,
    /// The line to stop at, the file it is in once seen, and its slot once made.
    watch: Option<Watch>,
    watch_file: Option<u32>,
    watch_slot: u32,
}

impl Tracer {
    pub fn new(out: Writer, filter: Filter, mark: CodeMark) -> Tracer {
        let mut out = out;
        let counters = out.counters();
        Tracer {
            out,
            counters,
            filter,
            mark,
            held: Vec::new(),
            codes: Vec::new(),
            files: FxHashMap::default(),
            file_lines: FxHashMap::default(),
            watch: None,
            watch_file: None,
            watch_slot: NO_SLOT,
        }
    }

    /// Stops once at a line of your code, just before it first runs.
    pub fn watch(&mut self, w: Watch) {
        self.watch = Some(w);
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

    pub fn parts(&mut self) -> (&Filter, &mut Writer) {
        (&self.filter, &mut self.out)
    }

    /// Marks a code object as never traced (refscope's own bootstrap).
    pub fn ignore_code(&mut self, code: *mut ffi::PyObject) {
        // SAFETY: the worker calls this with the GIL held, on its live bootstrap code.
        unsafe { self.mark.set(code, UNTRACED) };
    }

    /// The index of a traced code object, registering it on first sight.
    ///
    /// # Safety
    /// GIL held; `code` is a live code object.
    #[inline(always)]
    pub unsafe fn code(&mut self, code: *mut ffi::PyObject) -> Option<u32> {
        // SAFETY: the caller's promise is `get`'s.
        match unsafe { self.mark.get(code) } {
            // SAFETY: the caller's promise is `register`'s.
            UNMARKED => unsafe { self.register(code) },
            UNTRACED => None,
            m => Some((m - 2) as u32),
        }
    }

    /// # Safety
    /// As `code`.
    #[cold]
    unsafe fn register(&mut self, code: *mut ffi::PyObject) -> Option<u32> {
        // SAFETY: the caller's promise is `code_info`'s.
        let info = unsafe { cpython::code_info(code) };
        let filename = info.filename;
        if !self.filter.own_code(&filename, code as usize) {
            // SAFETY: GIL held, `code` live (the caller's promise).
            unsafe { self.mark.set(code, UNTRACED) };
            return None;
        }
        let file = match self.files.get(&filename) {
            Some(f) => *f,
            None => {
                let id = self.filter.wants(&filename).then_some(self.files.len() as u32);
                let id = id.filter(|&id| {
                    self.out.log(&Record::File {
                        id,
                        path: self.filter.absolute(&filename),
                    })
                });
                if let (Some(id), Some(w)) = (id, &self.watch) {
                    let canon = |p: &str| std::fs::canonicalize(p).ok();
                    if canon(&self.filter.absolute(&filename)).is_some_and(|c| Some(c) == canon(&w.at.0)) {
                        self.watch_file = Some(id);
                    }
                }
                self.files.insert(filename, id);
                id
            }
        };
        let Some(file) = file else {
            // SAFETY: GIL held, `code` live (the caller's promise).
            unsafe { self.mark.set(code, UNTRACED) };
            return None;
        };
        let (name, qualname, first_line) = (info.name, info.qualname, info.first_line);
        let generator = info.flags & cpython::CO_GENERATOR_LIKE != 0;
        let slot = self.out.new_slot();
        if slot == NO_SLOT
            || !self.out.log(&Record::Code {
                slot,
                file,
                name,
                qualname,
                line: first_line,
            })
        {
            // SAFETY: GIL held, `code` live (the caller's promise).
            unsafe { self.mark.set(code, UNTRACED) };
            return None;
        }
        // SAFETY: GIL held, `code` live; the reference is kept for the life of the process.
        unsafe { ffi::Py_INCREF(code) };
        self.held.push(code);
        let index = self.codes.len() as u32;
        self.codes.push(Code {
            file,
            slot,
            lines: Vec::new(),
            first_line,
            generator,
        });
        // SAFETY: GIL held, `code` live (the caller's promise).
        unsafe { self.mark.set(code, index as usize + 2) };
        Some(index)
    }

    /// The counter slot of `line` in traced code `code`; lines are shared by every code object of
    /// a file, so a comprehension's line and the line around it are one row.
    #[inline(always)]
    fn line_slot(&mut self, code: u32, line: u32) -> u32 {
        let c = &self.codes[code as usize];
        if line >= c.first_line {
            let i = (line - c.first_line) as usize;
            if let Some(&s) = c.lines.get(i) {
                if s != NO_SLOT {
                    return s;
                }
            }
        }
        self.new_line_slot(code, line)
    }

    #[cold]
    fn new_line_slot(&mut self, code: u32, line: u32) -> u32 {
        let file = self.codes[code as usize].file;
        let slot = match self.file_lines.get(&(file, line)) {
            Some(&s) => s,
            None => {
                let s = self.out.new_slot();
                if s != NO_SLOT && !self.out.log(&Record::Line { slot: s, file, line }) {
                    return NO_SLOT;
                }
                self.file_lines.insert((file, line), s);
                if self.watch_file == Some(file) && self.watch.as_ref().is_some_and(|w| w.at.1 == line) {
                    self.watch_slot = s;
                }
                s
            }
        };
        let c = &mut self.codes[code as usize];
        if line >= c.first_line {
            let i = (line - c.first_line) as usize;
            if i >= c.lines.len() {
                c.lines.resize(i + 1, NO_SLOT);
            }
            c.lines[i] = slot;
        }
        slot
    }

    #[inline(always)]
    fn add(&self, slot: u32, which: usize, v: u64) {
        // SAFETY: slot < SLOT_CAPACITY, so the word is inside the mapping.
        unsafe { *self.counters.add(SLOT_WORDS * slot as usize + which) += v };
    }

    #[inline(always)]
    fn begin_line(&mut self, ts: &mut ThreadState, slot: u32, t: u64, hit: bool) {
        let f = ts.stack.last_mut().unwrap();
        f.line = slot;
        if slot == NO_SLOT {
            return;
        }
        f.line_t0 = t;
        f.line_ov0 = ts.overhead;
        if slot == self.watch_slot {
            self.reached();
        }
        ts.open(slot);
        if hit {
            self.add(slot, W_HITS, 1);
        }
        self.out.header().last_line.store(slot, Ordering::Relaxed);
    }

    #[inline(always)]
    fn end_line(&mut self, ts: &mut ThreadState, t: u64) {
        let f = ts.stack.last_mut().unwrap();
        let slot = std::mem::replace(&mut f.line, NO_SLOT);
        if slot == NO_SLOT {
            return;
        }
        let dt = t.wrapping_sub(f.line_t0).saturating_sub(ts.overhead - f.line_ov0);
        let own = dt.saturating_sub(std::mem::take(&mut f.line_child));
        self.add(slot, W_SELF, own);
        if ts.close(slot) {
            self.add(slot, W_TICKS, dt);
        }
    }

    /// A traced frame starts (`resumed`: a generator or coroutine continues after a yield).
    pub fn start(&mut self, ts: &mut ThreadState, key: usize, code: u32, resumed: bool, line: Option<u32>, t: u64) {
        let slot = self.codes[code as usize].slot;
        if !resumed {
            self.add(slot, W_HITS, 1);
        }
        ts.open(slot);
        ts.stack.push(Frame {
            key,
            code,
            fn_slot: slot,
            line: NO_SLOT,
            line_t0: t,
            line_ov0: 0,
            line_child: 0,
            call_t0: t,
            call_ov0: ts.overhead,
            call_child: 0,
        });
        if let Some(line) = line {
            let s = self.line_slot(code, line);
            self.begin_line(ts, s, t, false);
        }
    }

    /// A line event; false when the frame is not traced.
    #[inline(always)]
    pub fn line(
        &mut self,
        ts: &mut ThreadState,
        key: usize,
        code: impl FnOnce() -> *mut ffi::PyObject,
        line: u32,
        t: u64,
    ) -> bool {
        let code = match ts.stack.last() {
            Some(f) if f.key == key => f.code,
            _ => {
                // A frame we did not see start (tracing began inside it): adopt it.
                // SAFETY: event callbacks run with the GIL held; `code()` is the frame's live code.
                let Some(c) = (unsafe { self.code(code()) }) else {
                    return false;
                };
                self.start(ts, key, c, true, None, t);
                c
            }
        };
        self.end_line(ts, t);
        let s = self.line_slot(code, line);
        self.begin_line(ts, s, t, true);
        true
    }

    /// The frame `key` ends (returns, yields or unwinds); frames above it that ended unseen go too.
    /// Returns the ended frame's code, or None when `key` was not on this thread's stack.
    pub fn end(&mut self, ts: &mut ThreadState, key: usize, t: u64) -> Option<u32> {
        let depth = ts.stack.iter().rposition(|f| f.key == key)?;
        let code = ts.stack[depth].code;
        while ts.stack.len() > depth {
            self.end_line(ts, t);
            let f = ts.stack.pop().unwrap();
            let slot = self.codes[f.code as usize].slot;
            let dt = t.wrapping_sub(f.call_t0).saturating_sub(ts.overhead - f.call_ov0);
            self.add(slot, W_SELF, dt.saturating_sub(f.call_child));
            if let Some(caller) = ts.stack.last_mut() {
                caller.line_child += dt;
                caller.call_child += dt;
            }
            if ts.close(slot) {
                self.add(slot, W_TICKS, dt);
            }
        }
        Some(code)
    }

    /// Events stopped reaching this thread: says from which line, and charges the frames still
    /// open up to the last event seen.
    pub fn lost(&mut self, ts: &mut ThreadState, reason: &str) {
        ts.join(self.mark.generation());
        let slot = ts.top_line();
        self.out.log(&Record::Lost {
            slot,
            reason: reason.to_string(),
        });
        let last = ts.last;
        self.close_all(ts, last);
    }

    /// In a forked child, whose counters start at zero: the frames it inherited run from `t` on,
    /// so the time before the fork stays the parent's.
    pub fn forked(&mut self, ts: &mut ThreadState, t: u64) {
        for f in &mut ts.stack {
            f.line_t0 = t;
            f.line_ov0 = ts.overhead;
            f.line_child = 0;
            f.call_t0 = t;
            f.call_ov0 = ts.overhead;
            f.call_child = 0;
        }
    }

    /// Charges every frame still open on this thread up to `t` (the program is ending).
    pub fn close_all(&mut self, ts: &mut ThreadState, t: u64) {
        ts.join(self.mark.generation());
        while let Some(key) = ts.top_key() {
            self.end(ts, key, t);
        }
    }

    #[cold]
    fn reached(&mut self) {
        self.watch_slot = NO_SLOT;
        if let Some(mut w) = self.watch.take() {
            // SAFETY: trace callbacks run with the GIL held.
            let py = unsafe { Python::assume_attached() };
            (w.then)(py, &self.filter, &mut self.out);
        }
    }
}

// The entry points of `cpython::Events`, on this thread's state. With no tracer installed every
// event is answered as traced, so nothing gets disabled on the way out.

/// A frame starts or resumes (see `cpython::Events::start`).
#[inline(always)]
pub fn on_start(
    key: usize,
    code: *mut ffi::PyObject,
    t: u64,
    resume: impl FnOnce(bool) -> (bool, Option<u32>),
) -> bool {
    // SAFETY: event callbacks run with the GIL held and never re-enter.
    let Some(tr) = (unsafe { TRACER.get() }).as_mut() else {
        return true;
    };
    // Through `with_thread` even for untraced code, so the callback's time counts as overhead.
    with_thread(t, |ts| {
        ts.join(tr.mark.generation());
        // SAFETY: `code` is the live code object of the event.
        let Some(c) = (unsafe { tr.code(code) }) else {
            return false;
        };
        let (resumed, line) = resume(tr.codes[c as usize].generator);
        tr.start(ts, key, c, resumed, line, t);
        true
    })
}

/// A line event (see `cpython::Events::line`).
#[inline(always)]
pub fn on_line(key: usize, code: impl FnOnce() -> *mut ffi::PyObject, line: u32, t: u64) -> bool {
    // SAFETY: event callbacks run with the GIL held and never re-enter.
    let Some(tr) = (unsafe { TRACER.get() }).as_mut() else {
        return true;
    };
    with_thread(t, |ts| {
        ts.join(tr.mark.generation());
        tr.line(ts, key, code, line, t)
    })
}

/// Whether `code` is traced (see `cpython::Events::traced`).
#[inline(always)]
pub fn on_traced(code: *mut ffi::PyObject) -> bool {
    // SAFETY: event callbacks run with the GIL held and never re-enter; `code` is the event's.
    match (unsafe { TRACER.get() }).as_mut() {
        // SAFETY: as above: GIL held, `code` live.
        Some(tr) => unsafe { tr.code(code) }.is_some(),
        None => true,
    }
}

/// A frame returns, yields or unwinds (see `cpython::Events::end`).
#[inline(always)]
pub fn on_end(key: usize, code: impl FnOnce() -> *mut ffi::PyObject, t: u64) -> Leave {
    // SAFETY: event callbacks run with the GIL held and never re-enter.
    let Some(tr) = (unsafe { TRACER.get() }).as_mut() else {
        return Leave::Traced { generator: false };
    };
    with_thread(t, |ts| {
        ts.join(tr.mark.generation());
        // SAFETY: the code object of the event is live.
        if ts.top_key() != Some(key) && unsafe { tr.code(code()) }.is_none() {
            return Leave::Untraced;
        }
        let generator = tr.end(ts, key, t).is_some_and(|c| tr.codes[c as usize].generator);
        Leave::Traced { generator }
    })
}
