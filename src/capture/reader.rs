//! Launcher side of the capture file: turns the bytes back into records and counters.

use super::*;
use std::sync::atomic::Ordering;

/// Everything a capture file held when it was read.
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

pub struct Reader;

impl Reader {
    /// Reads a capture file's bytes; a file the worker never wrote gives an empty capture.
    pub fn parse(bytes: &[u8]) -> Capture {
        if bytes.len() < FILE_SIZE || bytes[..8] != MAGIC {
            return Capture::default();
        }
        // SAFETY: length checked above; Header is plain data.
        let h = unsafe { &*(bytes.as_ptr() as *const Header) };
        let log_len = (h.log_len.load(Ordering::Acquire) as usize).min(LOG_CAPACITY);
        let slots = (h.slots_used.load(Ordering::Acquire) as usize).min(SLOT_CAPACITY);
        let log = &bytes[HEADER_SIZE..HEADER_SIZE + log_len];
        let records = log
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let base = HEADER_SIZE + LOG_CAPACITY;
        let word = |i: usize| {
            let at = base + i * 8;
            u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap())
        };
        let counters = (0..slots)
            .map(|s| std::array::from_fn(|w| word(SLOT_WORDS * s + w)))
            .collect();
        let last = h.last_line.load(Ordering::Relaxed);
        Capture {
            records,
            counters,
            flags: h.flags.load(Ordering::Acquire),
            last_line: (last != NO_SLOT).then_some(last),
            start_ticks: h.start_ticks.load(Ordering::Relaxed),
            end_ticks: h.end_ticks.load(Ordering::Relaxed),
            mem: h.mem.read(),
            started: true,
        }
    }
}
