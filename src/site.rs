//! What each thread runs right now, as the allocator hooks see it: a line of your code (its
//! counter slot), none of your code, or refscope's own work, which is never charged to anyone.
//!
//! The tracer writes the line; every refscope callback pauses; the memory hooks read both.

use crate::record::NO_SLOT;
use std::cell::Cell;

/// Low 32 bits: the line slot this thread runs (NO_SLOT: none of your code); PAUSED: refscope
/// itself is running on this thread.
const PAUSED: u64 = 1 << 32;

thread_local! {
    static CUR: Cell<u64> = const { Cell::new(NO_SLOT as u64) };
}

/// Marks refscope's own work on this thread for as long as it lives.
pub struct Pause(bool);

impl Pause {
    #[inline(always)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Pause {
        Pause(CUR.with(|c| {
            let v = c.get();
            c.set(v | PAUSED);
            v & PAUSED != 0
        }))
    }

    /// True when refscope's own work was already under way when this pause began.
    pub fn nested(&self) -> bool {
        self.0
    }
}

impl Drop for Pause {
    #[inline(always)]
    fn drop(&mut self) {
        if !self.0 {
            CUR.with(|c| c.set(c.get() & !PAUSED));
        }
    }
}

/// The tracer tells which line this thread now runs (NO_SLOT: none of your code).
#[inline(always)]
pub fn set_line(slot: u32) {
    CUR.with(|c| c.set((c.get() & PAUSED) | slot as u64));
}

/// The line slot this thread runs, or None while refscope's own work runs on it.
#[inline(always)]
pub fn current() -> Option<u32> {
    let v = CUR.with(Cell::get);
    (v & PAUSED == 0).then_some(v as u32)
}

/// The line slot this thread runs, whether or not refscope's own work is under way.
#[inline(always)]
pub fn line() -> u32 {
    CUR.with(Cell::get) as u32
}
