//! A process's resident memory, as `top` and the task manager show it, and the timeline the
//! launcher samples from outside the worker (the program pays nothing for it).

use crate::capture::Header;
use crate::record::{Sample, NO_SLOT};
use std::sync::atomic::Ordering::Relaxed;

/// Samples a worker every `interval`, keeping at most `MAX` points: when full, neighbours merge
/// (keeping the larger figures, so peaks survive) and the interval doubles.
pub struct Sampler {
    pid: u32,
    pub samples: Vec<Sample>,
    interval: std::time::Duration,
    next: std::time::Instant,
}

const MAX: usize = 1024;

impl Sampler {
    pub fn new(pid: u32) -> Sampler {
        Sampler {
            pid,
            samples: Vec::new(),
            interval: std::time::Duration::from_millis(2),
            next: std::time::Instant::now(),
        }
    }

    /// Takes a sample if one is due.
    pub fn poll(&mut self, header: &Header) {
        let now = std::time::Instant::now();
        if now < self.next || header.mem.on.load(Relaxed) != 1 {
            return;
        }
        self.next = now + self.interval;
        // A process being torn down reads as 0 resident pages.
        let Some(rss) = resident(self.pid).filter(|&r| r > 0) else {
            return;
        };
        let last = header.last_line.load(Relaxed);
        self.samples.push(Sample {
            ticks: crate::clock::ticks(),
            heap: header.mem.heap.load(Relaxed),
            native: header.mem.native.load(Relaxed),
            rss,
            bookkeeping: header.mem.bookkeeping.load(Relaxed),
            slot: (last != NO_SLOT).then_some(last),
        });
        if self.samples.len() >= MAX {
            self.samples = self
                .samples
                .chunks(2)
                .map(|p| {
                    let b = p[p.len() - 1];
                    Sample {
                        ticks: p[0].ticks,
                        heap: p.iter().map(|s| s.heap).max().unwrap_or(0),
                        native: p.iter().map(|s| s.native).max().unwrap_or(0),
                        rss: p.iter().map(|s| s.rss).max().unwrap_or(0),
                        ..b
                    }
                })
                .collect();
            self.interval *= 2;
        }
    }

    /// The poll interval the launcher should sleep at most.
    pub fn interval(&self) -> std::time::Duration {
        self.interval
    }
}

/// Resident bytes of process `pid` (`/proc/PID/statm`); None when it is gone.
pub fn resident(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_resident() {
        let r = super::resident(std::process::id()).unwrap();
        assert!(r > 1 << 20, "{r}");
    }
}
