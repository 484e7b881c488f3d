//! State touched only with the GIL held.

use std::cell::UnsafeCell;

/// A global that only code holding the GIL touches; CPython serialises every callback on it.
pub struct GilCell<T>(UnsafeCell<T>);

// SAFETY: callers hold the GIL, which serialises all access (free-threaded builds are refused).
unsafe impl<T> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub const fn new(v: T) -> Self {
        GilCell(UnsafeCell::new(v))
    }

    /// # Safety
    /// The GIL must be held and no other reference obtained from this cell may be live.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self) -> &mut T {
        // SAFETY: the caller holds the GIL and no other reference to the value is live.
        unsafe { &mut *self.0.get() }
    }
}
