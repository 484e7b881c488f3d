//! Capture → the memory part of a run's report.

use crate::record::{Capture, MemState, PymallocStats, Record, Sample};
use crate::report::memory::*;
use crate::report::numbers::fmt_bytes;
use crate::report::run::Location;

/// What `build` needs to name slots.
pub struct Names<'a> {
    pub location: &'a dyn Fn(u32) -> Option<(Location, String)>,
    pub function: &'a dyn Fn(u32) -> Option<(String, String, u32)>,
    pub ns: &'a dyn Fn(u64) -> u64,
    pub counters: &'a dyn Fn(u32) -> Vec<u64>,
}

pub fn build(cap: &Capture, timeline: &[Sample], names: &Names, partial: bool) -> Option<Memory> {
    let m: &MemState = &cap.mem;
    if !m.on {
        return None;
    }
    let at = At { cap, names };
    let peak = peak(&at);
    let timeline = points(&at, timeline);
    let logged = Logged::read(&at, partial);
    let rss_end = logged
        .end
        .filter(|_| !partial)
        .map(|(st, rss)| split(m, st, rss, logged.large_end));
    let total = total(cap);
    let what = if total.native_alloc_bytes > 0 {
        "Your program's memory (Python heap and native blocks)"
    } else {
        "The Python heap"
    };
    let explanation = explain(m, what, &peak, &timeline, rss_end.as_ref(), logged.start);
    Some(Memory {
        domains: ["mem", "obj", "raw", "native"][..if m.native_on { 4 } else { 2 }]
            .iter()
            .map(|d| d.to_string())
            .collect(),
        total,
        outside: m
            .outside_slot
            .map(|s| LineMemory::from_counters(&(names.counters)(s)))
            .unwrap_or_default(),
        heap_end_bytes: m.heap,
        native_end_bytes: m.native,
        peak,
        timeline,
        rss_end,
        explanation,
        gc: logged.gc,
        survivors: logged.survivors,
        free_lists: logged.free_lists,
    })
}

/// Names slots and times for the memory figures.
struct At<'a> {
    cap: &'a Capture,
    names: &'a Names<'a>,
}

impl At<'_> {
    /// Nanoseconds since the program started.
    fn since(&self, t: u64) -> u64 {
        (self.names.ns)(t.saturating_sub(self.cap.start_ticks))
    }

    /// A line of your code and its source; None for the outside bucket.
    fn located(&self, slot: u32) -> Option<(Location, String)> {
        (Some(slot) != self.cap.mem.outside_slot)
            .then(|| (self.names.location)(slot))
            .flatten()
    }

    fn place(&self, slot: u32) -> (Option<Location>, String) {
        self.located(slot).map_or((None, String::new()), |(l, s)| (Some(l), s))
    }
}

/// Every slot's figures added up, the outside bucket included.
pub fn total(cap: &Capture) -> LineMemory {
    let mut total = LineMemory::default();
    for c in &cap.counters {
        total.add(&LineMemory::from_counters(c));
    }
    total
}

fn peak(at: &At) -> Option<Peak> {
    let m = &at.cap.mem;
    (m.peak > 0).then(|| {
        let (place, source) = m.peak_slot.map_or((None, String::new()), |s| at.place(s));
        Peak {
            bytes: m.peak,
            t_ns: at.since(m.peak_ticks),
            at: place,
            source,
            stack: m
                .peak_stack
                .iter()
                .filter_map(|&(f, l)| {
                    let (function, file, first) = (at.names.function)(f)?;
                    let line = at.located(l).map_or(first, |(loc, _)| loc.line);
                    Some(StackEntry { function, file, line })
                })
                .collect(),
        }
    })
}

/// The launcher's samples inside the program's run, RSS without refscope's own memory.
fn points(at: &At, timeline: &[Sample]) -> Vec<TimePoint> {
    let (start, end) = (at.cap.start_ticks, at.cap.end_ticks);
    timeline
        .iter()
        .filter(|s| s.ticks >= start && (end == 0 || s.ticks <= end))
        .map(|s| TimePoint {
            t_ns: at.since(s.ticks),
            heap_bytes: s.heap,
            native_bytes: s.native,
            rss_bytes: s.rss.saturating_sub(s.bookkeeping),
        })
        .collect()
}

/// What the log holds about memory: allocator statistics, survivors, GC runs, large blocks.
struct Logged<'c> {
    start: Option<&'c PymallocStats>,
    end: Option<(&'c PymallocStats, u64)>,
    survivors: Vec<Survivor>,
    free_lists: Blocks,
    gc: Gc,
    large_end: u64,
}

impl<'c> Logged<'c> {
    fn read(at: &At<'c>, partial: bool) -> Logged<'c> {
        let m = &at.cap.mem;
        let mut l = Logged {
            start: None,
            end: None,
            survivors: Vec::new(),
            free_lists: Blocks::default(),
            gc: Gc {
                runs: m.gc_runs,
                collected: m.gc_collected,
                uncollectable: m.gc_uncollectable,
                time_ns: (at.names.ns)(m.gc_ticks),
                list: Vec::new(),
            },
            large_end: 0,
        };
        for r in &at.cap.records {
            match r {
                Record::Pymalloc { when, stats, .. } if when == "start" => {
                    l.start = l.start.or(Some(stats));
                }
                Record::Pymalloc { when, stats, rss } if when == "end" => {
                    l.end = l.end.or(Some((stats, *rss)));
                }
                Record::Survivors { rows } if !partial => {
                    l.survivors = rows
                        .iter()
                        .map(|&(slot, blocks, bytes)| {
                            let (place, source) = at.place(slot);
                            let code = source.trim_start();
                            let import = code.starts_with("import ") || code.starts_with("from ");
                            let hits = (at.names.counters)(slot).first().copied().unwrap_or(0);
                            Survivor {
                                grew: place.is_some() && !import && hits > 1,
                                at: place,
                                source,
                                blocks,
                                bytes,
                            }
                        })
                        .collect();
                    // Stable: each group stays largest first.
                    l.survivors.sort_by_key(|s| !s.grew);
                }
                Record::FreeLists { blocks, bytes } if !partial => {
                    l.free_lists = Blocks {
                        blocks: *blocks,
                        bytes: *bytes,
                    }
                }
                Record::LargeLive { bytes } => l.large_end = *bytes,
                Record::Gc {
                    generation,
                    collected,
                    uncollectable,
                    start_ticks,
                    ticks,
                    slot,
                } => l.gc.list.push(GcRun {
                    generation: *generation,
                    collected: *collected,
                    uncollectable: *uncollectable,
                    t_ns: at.since(*start_ticks),
                    duration_ns: (at.names.ns)(*ticks),
                    at: at.located(*slot).map(|(l, _)| l),
                }),
                _ => {}
            }
        }
        l
    }
}

/// Resident memory at the end, split by who holds it.
fn split(m: &MemState, st: &PymallocStats, rss: u64, large_end: u64) -> RssSplit {
    let refscope = m.bookkeeping;
    RssSplit {
        rss_bytes: rss.saturating_sub(refscope),
        pymalloc_live_bytes: st.allocated,
        pymalloc_free_bytes: st.held().saturating_sub(st.allocated),
        large_live_bytes: large_end,
        native_live_bytes: m.native,
        refscope_bytes: refscope,
        other_bytes: rss
            .saturating_sub(refscope)
            .saturating_sub(st.held())
            .saturating_sub(large_end)
            .saturating_sub(m.native),
        pymalloc: st.clone(),
    }
}

/// The sentence on the gap between the Python heap and RSS, from what was measured.
fn explain(
    m: &MemState,
    what: &str,
    peak: &Option<Peak>,
    timeline: &[TimePoint],
    end: Option<&RssSplit>,
    start: Option<&PymallocStats>,
) -> String {
    let Some(peak) = peak else {
        return "The program allocated nothing through Python's allocator.".into();
    };
    let at = peak
        .at
        .as_ref()
        .map(|l| format!(" at {}:{}", l.file, l.line))
        .unwrap_or_default();
    let near = |t: u64| timeline.iter().min_by_key(|p| p.t_ns.abs_diff(t)).map(|p| p.rss_bytes);
    let rss_peak = near(peak.t_ns);
    let rss_end = end
        .map(|e| e.rss_bytes)
        .or_else(|| timeline.last().map(|p| p.rss_bytes));
    let held = m.heap + m.native;
    let dropped = peak.bytes.saturating_sub(held);
    if dropped < (1 << 20) || dropped < peak.bytes / 5 {
        return format!(
            "{what} peaked at {}{at} and stayed near it (it ends at {}), so there was no freed memory for RSS to give back.",
            fmt_bytes(peak.bytes),
            fmt_bytes(held)
        );
    }
    let (Some(rp), Some(re)) = (rss_peak, rss_end) else {
        return format!(
            "{what} fell by {} after its peak{at}; the run was too short to sample RSS.",
            fmt_bytes(dropped)
        );
    };
    let rss_drop = rp.saturating_sub(re);
    if rss_drop >= dropped / 2 {
        return format!(
            "{what} fell by {} after its peak{at} and RSS came down by {}: the freed memory went back to the operating system (large blocks are unmapped and pymalloc releases arenas that empty completely).",
            fmt_bytes(dropped),
            fmt_bytes(rss_drop)
        );
    }
    let kept = match (end, start) {
        (Some(e), Some(s)) => {
            let pool = e.pymalloc_free_bytes.saturating_sub(s.held().saturating_sub(s.allocated));
            format!(
                ": {} of it sits free inside pymalloc's arenas, which go back to the OS only when every object in them is gone, and the C allocator keeps much of the rest for reuse instead of returning it",
                fmt_bytes(pool)
            )
        }
        _ => ": freed blocks stay inside pymalloc's arenas and the C allocator's heap, which keep memory for reuse instead of returning it to the OS".into(),
    };
    format!(
        "{what} fell by {} after its peak{at}, but RSS came down only {}{kept}.",
        fmt_bytes(dropped),
        fmt_bytes(rss_drop)
    )
}
