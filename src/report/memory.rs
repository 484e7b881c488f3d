//! The memory part of a run's report: per-line allocations, the heap and RSS over time, the gap
//! between them explained, GC runs and what survives, built from the capture and the launcher's
//! timeline, and drawn for the terminal.

use super::terminal::{bar, fmt_bytes, fmt_ns, thousands, BOLD, DIM, HEAD, WARM};
use super::Location;
use crate::record::{
    Capture, MemState, PymallocStats, Record, Sample, W_ALLOCS, W_ALLOC_BYTES, W_FREED_BYTES, W_FREES, W_OBJS_FREED,
    W_OBJS_NEW,
};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// What one line did to memory. Frees are charged to the line that ran when the block was freed
/// (the line that dropped the last reference), not to the line that allocated it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LineMemory {
    pub alloc_bytes: u64,
    pub allocations: u64,
    pub freed_bytes: u64,
    pub frees: u64,
    /// Blocks of the object domain: objects (and a few object-sized buffers). Objects reused from
    /// CPython's free lists (floats, tuples, lists, dicts) never reach the allocator.
    pub objects_created: u64,
    pub objects_freed: u64,
}

impl LineMemory {
    pub fn from_counters(c: &[u64]) -> LineMemory {
        LineMemory {
            alloc_bytes: c[W_ALLOC_BYTES],
            allocations: c[W_ALLOCS],
            freed_bytes: c[W_FREED_BYTES],
            frees: c[W_FREES],
            objects_created: c[W_OBJS_NEW],
            objects_freed: c[W_OBJS_FREED],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.allocations == 0 && self.frees == 0
    }

    pub fn net(&self) -> i64 {
        self.alloc_bytes as i64 - self.freed_bytes as i64
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    /// Allocator domains followed (PEP 445).
    pub domains: Vec<String>,
    /// Totals over the whole run, the outside bucket included.
    pub total: LineMemory,
    /// Allocations made while none of your code ran (interpreter start-up and shutdown work,
    /// threads before they reach your code).
    pub outside: LineMemory,
    /// Python heap: bytes in blocks allocated since the program started and not yet freed.
    pub heap_end_bytes: u64,
    pub peak: Option<Peak>,
    /// Heap and resident memory through the run, sampled every few milliseconds from outside.
    pub timeline: Vec<TimePoint>,
    /// Where the process's resident memory was at the end of the program (not for partial runs).
    pub rss_end: Option<RssSplit>,
    /// One plain sentence on why RSS did or did not come down when the heap did.
    pub explanation: String,
    pub gc: Gc,
    /// Blocks still allocated when the program ended, by the line that allocated them (leak
    /// candidates), largest first. Empty for partial runs.
    pub survivors: Vec<Survivor>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Peak {
    pub bytes: u64,
    /// Time since the program started.
    pub t_ns: u64,
    pub at: Option<Location>,
    pub source: String,
    /// Your frames at the peak, outermost first.
    pub stack: Vec<StackEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackEntry {
    pub function: String,
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimePoint {
    pub t_ns: u64,
    pub heap_bytes: u64,
    /// Resident memory of the process, refscope's own bookkeeping taken out.
    pub rss_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RssSplit {
    pub rss_bytes: u64,
    /// Live small blocks inside pymalloc's arenas (objects of 512 bytes or less).
    pub pymalloc_live_bytes: u64,
    /// Held by pymalloc but free: free blocks, empty pools, headers and rounding.
    pub pymalloc_free_bytes: u64,
    /// Live blocks over 512 bytes allocated by the program (list and dict buffers, big objects).
    pub large_live_bytes: u64,
    /// refscope's own table of live blocks.
    pub refscope_bytes: u64,
    /// Everything else: the interpreter and C libraries, memory the C allocator keeps after a
    /// free, large blocks that predate the program.
    pub other_bytes: u64,
    pub pymalloc: PymallocStats,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Gc {
    /// Collections per generation (0, 1, 2).
    pub runs: [u64; 3],
    pub collected: u64,
    pub uncollectable: u64,
    pub time_ns: u64,
    /// Each collection, in order (the first 10,000).
    pub list: Vec<GcRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GcRun {
    pub generation: u8,
    pub collected: u64,
    pub uncollectable: u64,
    pub t_ns: u64,
    pub duration_ns: u64,
    /// The line running when the collection started; None: outside your code.
    pub at: Option<Location>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Survivor {
    /// None: allocated outside your code.
    pub at: Option<Location>,
    pub source: String,
    pub blocks: u64,
    pub bytes: u64,
}

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
    let start = cap.start_ticks;
    let since = |t: u64| (names.ns)(t.saturating_sub(start));
    let mut total = LineMemory::default();
    for c in &cap.counters {
        let l = LineMemory::from_counters(c);
        total.alloc_bytes += l.alloc_bytes;
        total.allocations += l.allocations;
        total.freed_bytes += l.freed_bytes;
        total.frees += l.frees;
        total.objects_created += l.objects_created;
        total.objects_freed += l.objects_freed;
    }
    let outside = m
        .outside_slot
        .map(|s| LineMemory::from_counters(&(names.counters)(s)))
        .unwrap_or_default();
    let located = |slot: u32| (Some(slot) != m.outside_slot).then(|| (names.location)(slot)).flatten();

    let peak = (m.peak > 0).then(|| {
        let (at, source) = m
            .peak_slot
            .and_then(located)
            .map_or((None, String::new()), |(l, s)| (Some(l), s));
        Peak {
            bytes: m.peak,
            t_ns: since(m.peak_ticks),
            at,
            source,
            stack: m
                .peak_stack
                .iter()
                .filter_map(|&(f, l)| {
                    let (function, file, first) = (names.function)(f)?;
                    let line = located(l).map_or(first, |(loc, _)| loc.line);
                    Some(StackEntry { function, file, line })
                })
                .collect(),
        }
    });

    let timeline: Vec<TimePoint> = timeline
        .iter()
        .filter(|s| s.ticks >= start && (cap.end_ticks == 0 || s.ticks <= cap.end_ticks))
        .map(|s| TimePoint {
            t_ns: since(s.ticks),
            heap_bytes: s.heap,
            rss_bytes: s.rss.saturating_sub(s.bookkeeping),
        })
        .collect();

    let mut pymalloc: Vec<(&str, &PymallocStats, u64)> = Vec::new();
    let mut survivors = Vec::new();
    let mut gc = Gc {
        runs: m.gc_runs,
        collected: m.gc_collected,
        uncollectable: m.gc_uncollectable,
        time_ns: (names.ns)(m.gc_ticks),
        list: Vec::new(),
    };
    let mut large_end = 0;
    for r in &cap.records {
        match r {
            Record::Pymalloc { when, stats, rss } => pymalloc.push((when, stats, *rss)),
            Record::Survivors { rows } if !partial => {
                survivors = rows
                    .iter()
                    .map(|&(slot, blocks, bytes)| {
                        let (at, source) = located(slot).map_or((None, String::new()), |(l, s)| (Some(l), s));
                        Survivor {
                            at,
                            source,
                            blocks,
                            bytes,
                        }
                    })
                    .collect();
            }
            Record::LargeLive { bytes } => large_end = *bytes,
            Record::Gc {
                generation,
                collected,
                uncollectable,
                start_ticks,
                ticks,
                slot,
            } => gc.list.push(GcRun {
                generation: *generation,
                collected: *collected,
                uncollectable: *uncollectable,
                t_ns: since(*start_ticks),
                duration_ns: (names.ns)(*ticks),
                at: located(*slot).map(|(l, _)| l),
            }),
            _ => {}
        }
    }
    let end = pymalloc.iter().find(|p| p.0 == "end");
    let begin = pymalloc.iter().find(|p| p.0 == "start");
    let rss_end = end.filter(|_| !partial).map(|&(_, st, rss)| {
        let pymalloc_free = st.held().saturating_sub(st.allocated);
        let refscope = m.bookkeeping;
        RssSplit {
            rss_bytes: rss.saturating_sub(refscope),
            pymalloc_live_bytes: st.allocated,
            pymalloc_free_bytes: pymalloc_free,
            large_live_bytes: large_end,
            refscope_bytes: refscope,
            other_bytes: rss
                .saturating_sub(refscope)
                .saturating_sub(st.held())
                .saturating_sub(large_end),
            pymalloc: st.clone(),
        }
    });
    let explanation = explain(m, &peak, &timeline, rss_end.as_ref(), begin.map(|b| b.1));
    Some(Memory {
        domains: vec!["mem".into(), "obj".into()],
        total,
        outside,
        heap_end_bytes: m.heap,
        peak,
        timeline,
        rss_end,
        explanation,
        gc,
        survivors,
    })
}

/// The sentence on the gap between the Python heap and RSS, from what was measured.
fn explain(
    m: &MemState,
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
    let dropped = peak.bytes.saturating_sub(m.heap);
    if dropped < (1 << 20) || dropped < peak.bytes / 5 {
        return format!(
            "The Python heap peaked at {}{at} and stayed near it (it ends at {}), so there was no freed memory for RSS to give back.",
            fmt_bytes(peak.bytes),
            fmt_bytes(m.heap)
        );
    }
    let (Some(rp), Some(re)) = (rss_peak, rss_end) else {
        return format!(
            "The Python heap fell by {} after its peak{at}; the run was too short to sample RSS.",
            fmt_bytes(dropped)
        );
    };
    let rss_drop = rp.saturating_sub(re);
    if rss_drop >= dropped / 2 {
        return format!(
            "The Python heap fell by {} after its peak{at} and RSS came down by {}: the freed memory went back to the operating system (large blocks are unmapped and pymalloc releases arenas that empty completely).",
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
        "The Python heap fell by {} after its peak{at}, but RSS came down only {}{kept}.",
        fmt_bytes(dropped),
        fmt_bytes(rss_drop)
    )
}

/// A one-line chart of `values`, from their minimum (lowest tick) to their maximum (highest).
pub fn sparkline(values: &[u64], width: usize) -> String {
    const TICKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let lo = values.iter().copied().min().unwrap_or(0);
    let span = (values.iter().copied().max().unwrap_or(0) - lo).max(1);
    let w = width.min(values.len());
    (0..w)
        .map(|i| {
            let a = i * values.len() / w;
            let b = ((i + 1) * values.len() / w).max(a + 1);
            let v = values[a..b].iter().copied().max().unwrap_or(0) - lo;
            TICKS[((v as f64 / span as f64) * 7.0).round() as usize]
        })
        .collect()
}

fn signed_bytes(n: i64) -> String {
    match n {
        0 => "0 B".into(),
        n if n > 0 => format!("+{}", fmt_bytes(n as u64)),
        n => format!("-{}", fmt_bytes(n.unsigned_abs())),
    }
}

pub fn net(l: &LineMemory) -> String {
    if l.is_empty() {
        String::new()
    } else {
        signed_bytes(l.net())
    }
}

fn place(at: &Option<Location>) -> String {
    at.as_ref()
        .map(|l| format!("{}:{}", l.file, l.line))
        .unwrap_or_else(|| "(outside your code)".into())
}

/// The memory sections of the terminal report.
pub fn render(o: &mut String, r: &super::Report, top: usize) {
    let Some(m) = &r.memory else { return };
    let _ = writeln!(
        o,
        "\n{HEAD}Memory{HEAD:#} {DIM}(Python's object and mem allocators; frees are charged to the line that dropped the last reference){DIM:#}"
    );
    let _ = writeln!(
        o,
        "  allocated {BOLD}{}{BOLD:#} in {} blocks ({} objects), freed {} ({} objects); heap at end {}",
        fmt_bytes(m.total.alloc_bytes),
        thousands(m.total.allocations),
        thousands(m.total.objects_created),
        fmt_bytes(m.total.freed_bytes),
        thousands(m.total.objects_freed),
        fmt_bytes(m.heap_end_bytes),
    );
    if let Some(p) = &m.peak {
        let _ = writeln!(
            o,
            "  peak heap {BOLD}{}{BOLD:#} at {:.3} s, {BOLD}{}{BOLD:#}  {}",
            fmt_bytes(p.bytes),
            p.t_ns as f64 / 1e9,
            place(&p.at),
            p.source.trim()
        );
        if p.stack.len() > 1 {
            let chain: Vec<String> = p
                .stack
                .iter()
                .map(|s| format!("{} ({}:{})", s.function, s.file, s.line))
                .collect();
            let _ = writeln!(o, "  {DIM}stack: {}{DIM:#}", chain.join(" → "));
        }
    }
    if m.timeline.len() >= 2 {
        let heap: Vec<u64> = m.timeline.iter().map(|p| p.heap_bytes).collect();
        let rss: Vec<u64> = m.timeline.iter().map(|p| p.rss_bytes).collect();
        let span = m.timeline.last().map_or(0, |p| p.t_ns);
        let range = |v: &[u64]| {
            format!(
                "{} … {}",
                fmt_bytes(v.iter().copied().min().unwrap_or(0)),
                fmt_bytes(v.iter().copied().max().unwrap_or(0))
            )
        };
        let _ = writeln!(o, "  heap {WARM}{}{WARM:#} {}", sparkline(&heap, 60), range(&heap));
        let _ = writeln!(
            o,
            "  RSS  {HEAD}{}{HEAD:#} {}  {DIM}(0 → {}){DIM:#}",
            sparkline(&rss, 60),
            range(&rss),
            fmt_ns(span)
        );
    }
    if let Some(e) = &m.rss_end {
        let _ = writeln!(
            o,
            "  RSS at end {BOLD}{}{BOLD:#} = small objects {} + pymalloc free space {} + large blocks {} + interpreter, C libraries and malloc's free memory {} {DIM}(refscope's own {} left out){DIM:#}",
            fmt_bytes(e.rss_bytes),
            fmt_bytes(e.pymalloc_live_bytes),
            fmt_bytes(e.pymalloc_free_bytes),
            fmt_bytes(e.large_live_bytes),
            fmt_bytes(e.other_bytes),
            fmt_bytes(e.refscope_bytes),
        );
    }
    let _ = writeln!(o, "  {}", m.explanation);

    let mut rows: Vec<(&super::FileReport, &super::Line)> = r
        .files
        .iter()
        .flat_map(|f| f.lines.iter().map(move |l| (f, l)))
        .filter(|(_, l)| l.memory.alloc_bytes > 0)
        .collect();
    rows.sort_by(|a, b| b.1.memory.alloc_bytes.cmp(&a.1.memory.alloc_bytes));
    if !rows.is_empty() && top > 0 {
        let most = rows[0].1.memory.alloc_bytes.max(1);
        let _ = writeln!(o, "\n{HEAD}Lines that allocate most{HEAD:#}");
        for (i, (f, l)) in rows.iter().take(top).enumerate() {
            let p = 100.0 * l.memory.alloc_bytes as f64 / most as f64;
            let _ = writeln!(
                o,
                "{:>3}. {WARM}{}{WARM:#} {:>10} {DIM}net{DIM:#} {:>11} {:>10} objs  {BOLD}{}:{}{BOLD:#}  {}",
                i + 1,
                bar(p, 10),
                fmt_bytes(l.memory.alloc_bytes),
                net(&l.memory),
                thousands(l.memory.objects_created),
                f.display,
                l.line,
                l.source.trim()
            );
        }
    }
    if !m.survivors.is_empty() && top > 0 {
        let _ = writeln!(
            o,
            "\n{HEAD}Still allocated at exit{HEAD:#} {DIM}(by the line that allocated it: leak candidates){DIM:#}"
        );
        for s in m.survivors.iter().take(top) {
            let _ = writeln!(
                o,
                "  {:>10} in {:>9} blocks  {BOLD}{}{BOLD:#}  {}",
                fmt_bytes(s.bytes),
                thousands(s.blocks),
                place(&s.at),
                s.source.trim()
            );
        }
    }
    let g = &m.gc;
    let runs: u64 = g.runs.iter().sum();
    let _ = writeln!(
        o,
        "\n{HEAD}Garbage collections{HEAD:#} {} (generation 0: {}, 1: {}, 2: {}), {} objects collected, {} uncollectable, {}",
        runs,
        g.runs[0],
        g.runs[1],
        g.runs[2],
        thousands(g.collected),
        g.uncollectable,
        fmt_ns(g.time_ns)
    );
    let mut by_line: Vec<(String, u64, u64)> = Vec::new();
    for run in &g.list {
        let key = place(&run.at);
        match by_line.iter_mut().find(|e| e.0 == key) {
            Some(e) => {
                e.1 += 1;
                e.2 += run.collected;
            }
            None => by_line.push((key, 1, run.collected)),
        }
    }
    by_line.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)));
    for (at, n, collected) in by_line.iter().take(top.min(5)) {
        let _ = writeln!(
            o,
            "  {:>6} runs collected {:>9} objects  {BOLD}{at}{BOLD:#}",
            n,
            thousands(*collected)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_maximum() {
        assert_eq!(sparkline(&[0, 50, 100], 3), "▁▅█");
        assert_eq!(sparkline(&[100, 150, 200], 3), "▁▅█", "from the minimum");
        assert_eq!(sparkline(&[1, 1, 8, 1], 2), "▁█");
        assert_eq!(sparkline(&[], 10), "");
    }

    #[test]
    fn net_is_signed() {
        let l = LineMemory {
            alloc_bytes: 100,
            allocations: 1,
            freed_bytes: 2148,
            frees: 2,
            ..Default::default()
        };
        assert_eq!(net(&l), "-2.0 KiB");
        assert_eq!(net(&LineMemory::default()), "");
    }
}
