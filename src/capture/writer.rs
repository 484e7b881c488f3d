//! Worker side of the capture file.

use super::*;
use crate::record::{Record, FLAG_TRUNCATED};
use memmap2::MmapMut;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;

pub struct Writer {
    map: MmapMut,
    log_len: usize,
    slots_used: u32,
}

impl Writer {
    pub fn open(path: &str) -> std::io::Result<Writer> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        // SAFETY: the launcher created the file at FILE_SIZE and only reads it.
        let map = unsafe { MmapMut::map_mut(&file)? };
        if map.len() < FILE_SIZE {
            return Err(std::io::Error::other("capture file too small"));
        }
        let w = Writer {
            map,
            log_len: 0,
            slots_used: 0,
        };
        let h = w.header();
        // SAFETY: the header is plain data at the start of a page-aligned mapping.
        unsafe {
            let p = h as *const Header as *mut Header;
            (*p).magic = MAGIC;
            (*p).version = FORMAT_VERSION;
        }
        h.last_line.store(NO_SLOT, Ordering::Relaxed);
        h.mem.outside_slot.store(NO_SLOT, Ordering::Relaxed);
        h.mem.peak_slot.store(NO_SLOT, Ordering::Relaxed);
        Ok(w)
    }

    /// Creates this process's capture file in the run directory (replacing one a fork left
    /// there before it ran a new program under the same pid), readable by this user only.
    pub fn create(path: &Path) -> std::io::Result<Writer> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        file.set_len(FILE_SIZE as u64)?;
        drop(file);
        Writer::open(&path.display().to_string())
    }

    /// From now on a fork of this process writes a capture of its own in `dir`, or (None) none.
    pub fn follow_forks(&mut self, dir: Option<&Path>) {
        super::fork::follow(self.map.as_mut_ptr(), dir);
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER_SIZE bytes and page aligned.
        unsafe { &*(self.map.as_ptr() as *const Header) }
    }

    /// Appends a record and publishes it; false when the log is full.
    pub fn log(&mut self, record: &Record) -> bool {
        let mut line = serde_json::to_vec(record).expect("records serialize");
        line.push(b'\n');
        let start = HEADER_SIZE + self.log_len;
        if self.log_len + line.len() > LOG_CAPACITY {
            self.header().flags.fetch_or(FLAG_TRUNCATED, Ordering::Relaxed);
            return false;
        }
        self.map[start..start + line.len()].copy_from_slice(&line);
        self.log_len += line.len();
        self.header().log_len.store(self.log_len as u64, Ordering::Release);
        true
    }

    /// Bytes left in the log.
    pub fn log_room(&self) -> usize {
        LOG_CAPACITY - self.log_len
    }

    /// A fresh counter slot, or NO_SLOT when none is left.
    pub fn new_slot(&mut self) -> u32 {
        if self.slots_used as usize >= SLOT_CAPACITY {
            self.header().flags.fetch_or(FLAG_TRUNCATED, Ordering::Relaxed);
            return NO_SLOT;
        }
        let slot = self.slots_used;
        self.slots_used += 1;
        self.header().slots_used.store(self.slots_used, Ordering::Release);
        slot
    }

    /// Base of the counters: slot `s` is the SLOT_WORDS words from `base + SLOT_WORDS * s`.
    pub fn counters(&mut self) -> *mut u64 {
        // SAFETY: in bounds by FILE_SIZE; 8-aligned because HEADER_SIZE and LOG_CAPACITY are.
        unsafe { self.map.as_mut_ptr().add(HEADER_SIZE + LOG_CAPACITY) as *mut u64 }
    }

    pub fn set_flag(&self, flag: u32) {
        self.header().flags.fetch_or(flag, Ordering::Release);
    }
}
