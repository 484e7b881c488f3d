//! Launcher side of the capture file: turns the bytes back into records and counters.

use super::*;
use crate::record::{Capture, Record};
use std::sync::atomic::Ordering;

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
        let records = own_records(
            log.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .filter_map(|l| serde_json::from_slice(l).ok())
                .collect(),
        );
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

/// A forked child's log begins with its parent's: before the last `Process` record, only what
/// names its slots (and the interpreter) is the child's too.
fn own_records(mut records: Vec<Record>) -> Vec<Record> {
    let Some(at) = records.iter().rposition(|r| matches!(r, Record::Process { .. })) else {
        return records;
    };
    let mut i = 0;
    records.retain(|r| {
        i += 1;
        i > at
            || matches!(
                r,
                Record::Start { .. } | Record::File { .. } | Record::Code { .. } | Record::Line { .. }
            )
    });
    records
}
