//! The memory sections of the terminal report of a run.

use super::*;
use crate::report::memory::{Gc, Memory};
use crate::report::run::{FileReport, Line, Report};
use std::fmt::Write;

/// The memory sections of the terminal report.
pub fn section(o: &mut String, r: &Report, top: usize) {
    let Some(m) = &r.memory else { return };
    overview(o, m);
    if top > 0 {
        allocating_lines(o, r, top);
        survivors(o, m, top);
    }
    collections(o, &m.gc, top);
}

/// Totals, the peak with its stack, the heap and RSS sparklines, the RSS split and its sentence.
fn overview(o: &mut String, m: &Memory) {
    let _ = writeln!(
        o,
        "\n{HEAD}Memory{HEAD:#} {DIM}(Python's object and mem allocators{}; frees are charged to the line that dropped the last reference){DIM:#}",
        if m.domains.iter().any(|d| d == "native") {
            ", and native blocks extension modules take from malloc"
        } else {
            ""
        }
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
    if m.total.native_alloc_bytes > 0 {
        let _ = writeln!(
            o,
            "  of which native {BOLD}{}{BOLD:#} allocated, {} freed; native at end {}",
            fmt_bytes(m.total.native_alloc_bytes),
            fmt_bytes(m.total.native_freed_bytes),
            fmt_bytes(m.native_end_bytes),
        );
    }
    if let Some(p) = &m.peak {
        let _ = writeln!(
            o,
            "  peak heap{} {BOLD}{}{BOLD:#} at {:.3} s, {BOLD}{}{BOLD:#}  {}",
            if m.total.native_alloc_bytes > 0 {
                " + native"
            } else {
                ""
            },
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
        let heap: Vec<u64> = m.timeline.iter().map(|p| p.heap_bytes + p.native_bytes).collect();
        let rss: Vec<u64> = m.timeline.iter().map(|p| p.rss_bytes).collect();
        let span = m.timeline.last().map_or(0, |p| p.t_ns);
        let range = |v: &[u64]| {
            format!(
                "{} … {}",
                fmt_bytes(v.iter().copied().min().unwrap_or(0)),
                fmt_bytes(v.iter().copied().max().unwrap_or(0))
            )
        };
        // Native blocks are drawn with the heap they add to: the label says so when there are any.
        let native = m.timeline.iter().any(|p| p.native_bytes > 0);
        let label = if native { "heap + native" } else { "heap" };
        let w = label.len();
        let _ = writeln!(o, "  {label} {WARM}{}{WARM:#} {}", sparkline(&heap, 60), range(&heap));
        let _ = writeln!(
            o,
            "  {:<w$} {HEAD}{}{HEAD:#} {}  {DIM}(0 → {}){DIM:#}",
            "RSS",
            sparkline(&rss, 60),
            range(&rss),
            fmt_ns(span)
        );
    }
    if let Some(e) = &m.rss_end {
        let _ = writeln!(
            o,
            "  RSS at end {BOLD}{}{BOLD:#} = small objects {} + pymalloc free space {} + large blocks {} + native, by your lines {} + interpreter, C libraries and malloc's free memory {} {DIM}(refscope's own {} left out){DIM:#}",
            fmt_bytes(e.rss_bytes),
            fmt_bytes(e.pymalloc_live_bytes),
            fmt_bytes(e.pymalloc_free_bytes),
            fmt_bytes(e.large_live_bytes),
            fmt_bytes(e.native_live_bytes),
            fmt_bytes(e.other_bytes),
            fmt_bytes(e.refscope_bytes),
        );
    }
    let _ = writeln!(o, "  {}", m.explanation);
}

/// The lines that allocated most, ranked.
fn allocating_lines(o: &mut String, r: &Report, top: usize) {
    let mut rows: Vec<(&FileReport, &Line)> = r
        .files
        .iter()
        .flat_map(|f| f.lines.iter().map(move |l| (f, l)))
        .filter(|(_, l)| l.memory.alloc_bytes > 0)
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.memory.alloc_bytes));
    if !rows.is_empty() {
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
}

/// What was still allocated at exit, by allocating line: what grew first, then what was set up
/// once, then one line for the free lists.
fn survivors(o: &mut String, m: &Memory, top: usize) {
    if m.survivors.is_empty() && m.free_lists.blocks == 0 {
        return;
    }
    let _ = writeln!(
        o,
        "\n{HEAD}Still allocated at exit{HEAD:#} {DIM}(by the line that allocated it; leak candidates are the lines that ran more than once){DIM:#}"
    );
    let row = |o: &mut String, s: &crate::report::memory::Survivor| {
        let _ = writeln!(
            o,
            "  {:>10} in {:>9} blocks  {BOLD}{}{BOLD:#}  {}",
            fmt_bytes(s.bytes),
            thousands(s.blocks),
            place(&s.at),
            s.source.trim()
        );
    };
    let (grew, once): (Vec<_>, Vec<_>) = m.survivors.iter().partition(|s| s.grew);
    if grew.is_empty() {
        let _ = writeln!(o, "  {GOOD}no line that ran more than once left memory behind{GOOD:#}");
    }
    for s in grew.iter().take(top) {
        row(o, s);
    }
    if !once.is_empty() {
        let bytes: u64 = once.iter().map(|s| s.bytes).sum();
        let blocks: u64 = once.iter().map(|s| s.blocks).sum();
        let _ = writeln!(
            o,
            "  {DIM}set up once (imports, module state, lines that ran once): {} in {} blocks{DIM:#}",
            fmt_bytes(bytes),
            thousands(blocks)
        );
        for s in once.iter().take(top.min(3)) {
            row(o, s);
        }
    }
    if m.free_lists.blocks > 0 {
        let _ = writeln!(
            o,
            "  {DIM}free lists hold {} in {} blocks: dead tuples, lists, dicts and floats CPython keeps for reuse (not leaks){DIM:#}",
            fmt_bytes(m.free_lists.bytes),
            thousands(m.free_lists.blocks)
        );
    }
}

/// GC runs: totals, then the lines that triggered the most collected.
fn collections(o: &mut String, g: &Gc, top: usize) {
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
