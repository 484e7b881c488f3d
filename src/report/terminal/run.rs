//! The run report in the terminal: annotated source per file, a function summary, the hottest
//! lines and the memory sections.

use super::*;
use crate::report::run::*;
use crate::report::Render;
use std::fmt::Write;

impl Render<Report> for Terminal {
    fn render(&self, r: &Report) -> String {
        run(r, self.top, self.full)
    }
}

/// A report of at most this many lines that ran shows them all.
const ALL_UNDER: usize = 80;
/// Otherwise a line is shown when it took at least this share of the run's time (callees
/// included) or of the bytes the program allocated, with `CONTEXT` lines to each side.
const SHARE: f64 = 0.01;
const CONTEXT: u32 = 1;

fn run(r: &Report, top: usize, full: bool) -> String {
    let mut o = String::new();
    let wall = r.wall_ns.max(1);
    let many = if r.processes.len() > 1 {
        format!("  ·  {} processes", r.processes.len())
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "{HEAD}refscope run{HEAD:#} {BOLD}{}{BOLD:#}  ·  {}  ·  {} line events{many}  ·  Python {}",
        r.program.target,
        fmt_ns(r.wall_ns),
        thousands(r.line_events),
        r.python.version
    );
    outcome(&mut o, r);
    processes(&mut o, r);
    sources(&mut o, r, wall, &shown(r, full));
    functions(&mut o, r, wall, top);
    hottest(&mut o, r, wall, top);
    super::memory::section(&mut o, r, top);
    if r.outcome.partial {
        let _ = writeln!(o);
        outcome(&mut o, r);
    }
    o
}

/// The program's processes, when it started any: how each ended and what it ran.
fn processes(o: &mut String, r: &Report) {
    if r.processes.len() < 2 {
        return;
    }
    let _ = writeln!(
        o,
        "\n{HEAD}Processes{HEAD:#} {DIM}(every figure below is the sum over them; Procs: how many ran the line){DIM:#}"
    );
    let _ = writeln!(
        o,
        "{BOLD}{:>8} {:>8} {:>6} {:>10} {:>12}  How it ended{BOLD:#}",
        "PID", "Parent", "Start", "Time", "Line events"
    );
    let (shown, idle): (Vec<&Process>, Vec<&Process>) = r
        .processes
        .iter()
        .partition(|p| p.origin == "main" || p.line_events > 0);
    for p in shown {
        let st = if p.finished { DIM } else { WARM };
        let at = match (&p.last_line, p.finished) {
            (Some(l), false) => format!(" (last at {}:{})", l.file, l.line),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "{:>8} {:>8} {:>6} {:>10} {:>12}  {st}{}{at}{st:#}",
            p.pid,
            p.ppid,
            p.origin,
            fmt_ns(p.wall_ns),
            thousands(p.line_events),
            p.description
        );
    }
    if !idle.is_empty() {
        let _ = writeln!(
            o,
            "{DIM}and {} that ran none of your code (a forkserver, multiprocessing's resource tracker, other programs){DIM:#}",
            if idle.len() == 1 {
                "1 more process".to_string()
            } else {
                format!("{} more processes", idle.len())
            }
        );
    }
}

/// Where the annotated source leaves out `n` lines that ran.
fn cut(o: &mut String, n: usize) {
    let _ = writeln!(
        o,
        "{DIM}{:>6}  {} lines that ran, left out{DIM:#}",
        "⋮",
        thousands(n as u64)
    );
}

/// Per file, per line that ran: whether the annotated source shows it.
fn shown(r: &Report, full: bool) -> Vec<Vec<bool>> {
    let lines: usize = r.files.iter().map(|f| f.lines.len()).sum();
    if full || lines <= ALL_UNDER {
        return r.files.iter().map(|f| vec![true; f.lines.len()]).collect();
    }
    let wall = r.wall_ns.max(1) as f64;
    let allocated: u64 = r
        .files
        .iter()
        .flat_map(|f| &f.lines)
        .map(|l| l.memory.alloc_bytes)
        .sum();
    let matters = |l: &Line| {
        l.time_ns as f64 >= SHARE * wall || (allocated > 0 && l.memory.alloc_bytes as f64 >= SHARE * allocated as f64)
    };
    r.files
        .iter()
        .map(|f| {
            let hot: Vec<u32> = f.lines.iter().filter(|l| matters(l)).map(|l| l.line).collect();
            f.lines
                .iter()
                .map(|l| hot.iter().any(|&h| h.abs_diff(l.line) <= CONTEXT))
                .collect()
        })
        .collect()
}

/// The annotated source of each file: the lines `shown` keeps, short gaps filled in dimmed;
/// then what was left out.
fn sources(o: &mut String, r: &Report, wall: u64, shown: &[Vec<bool>]) {
    let mem = r.memory.is_some();
    let many = r.processes.len() > 1;
    let procs = |l: Option<&Line>| match (many, l) {
        (false, _) => String::new(),
        (true, None) => format!(" {:>5}", ""),
        (true, Some(l)) => format!(" {:>5}", l.processes),
    };
    let mem_cols = |l: Option<&Line>| match (mem, l) {
        (false, _) => String::new(),
        (true, None) => format!(" {:>10} {:>11}", "", ""),
        (true, Some(l)) => format!(
            " {:>10} {:>11}",
            if l.memory.alloc_bytes > 0 {
                fmt_bytes(l.memory.alloc_bytes)
            } else {
                String::new()
            },
            net(&l.memory)
        ),
    };
    let blank = |o: &mut String, n: u32, src: &str| {
        let _ = writeln!(
            o,
            "{DIM}{n:>6} {:>10}{} {:>10} {:>10} {:>10} {:>7}{}  {src}{DIM:#}",
            "",
            procs(None),
            "",
            "",
            "",
            "",
            mem_cols(None)
        );
    };

    let mut quiet_files = 0usize;
    for (f, keep) in r.files.iter().zip(shown) {
        if !keep.contains(&true) {
            quiet_files += 1;
            continue;
        }
        let _ = writeln!(o, "\n{HEAD}{}{HEAD:#}", f.display);
        let _ = writeln!(
            o,
            "{BOLD}{:>6} {:>10}{} {:>10} {:>10} {:>10} {:>7}{}  Source{BOLD:#}",
            "Line",
            "Hits",
            if many {
                format!(" {:>5}", "Procs")
            } else {
                String::new()
            },
            "Time",
            "Self",
            "Per hit",
            "% run",
            if mem {
                format!(" {:>10} {:>11}", "Alloc", "Net")
            } else {
                String::new()
            }
        );
        let mut prev: Option<u32> = None;
        let mut skipped = 0usize;
        for (l, &keep) in f.lines.iter().zip(keep) {
            if !keep {
                skipped += 1;
                continue;
            }
            if skipped > 0 {
                cut(o, skipped);
                skipped = 0;
            } else if let Some(p) = prev {
                let gap = l.line.saturating_sub(p + 1);
                if gap > 0 && gap <= 4 && !f.source.is_empty() {
                    for n in p + 1..l.line {
                        blank(
                            o,
                            n,
                            f.source
                                .get((n as usize).saturating_sub(1))
                                .map(String::as_str)
                                .unwrap_or(""),
                        );
                    }
                } else if gap > 0 {
                    let _ = writeln!(o, "{DIM}{:>6}{DIM:#}", "⋮");
                }
            }
            let per = l.time_ns.checked_div(l.hits).map(fmt_ns).unwrap_or_default();
            let st = heat(pct(l.self_ns, wall));
            let _ = writeln!(
                o,
                "{st}{:>6} {:>10}{} {:>10} {:>10} {:>10} {:>6.1}%{}  {}{st:#}",
                l.line,
                thousands(l.hits),
                procs(Some(l)),
                fmt_ns(l.time_ns),
                fmt_ns(l.self_ns),
                per,
                pct(l.time_ns, wall),
                mem_cols(Some(l)),
                l.source
            );
            prev = Some(l.line);
        }
        if skipped > 0 {
            cut(o, skipped);
        }
    }
    let left_out = shown.iter().flatten().filter(|k| !**k).count();
    if left_out > 0 {
        let all: usize = r.files.iter().map(|f| f.lines.len()).sum();
        let files = match quiet_files {
            0 => String::new(),
            1 => "; 1 file had none".into(),
            n => format!("; {n} files had none"),
        };
        let _ = writeln!(
            o,
            "\n{DIM}Shown: {} of {} lines that ran, those with at least {:.0}% of the time or of the memory allocated and a line around each{files}. \
`--full` shows every line; `--json` holds them all.{DIM:#}",
            thousands((all - left_out) as u64),
            thousands(all as u64),
            SHARE * 100.0
        );
    }
}

/// Every function called, by total time.
fn functions(o: &mut String, r: &Report, wall: u64, top: usize) {
    if !r.functions.is_empty() {
        let _ = writeln!(
            o,
            "\n{HEAD}Functions{HEAD:#} {DIM}(total includes callees, recursion counted once; self excludes your code it called){DIM:#}"
        );
        let _ = writeln!(
            o,
            "{BOLD}{:>10} {:>10} {:>10} {:>10} {:>7}  Function{BOLD:#}",
            "Calls", "Total", "Self", "Per call", "% run"
        );
        for f in r.functions.iter().take(top.max(10) * 2) {
            let st = heat(pct(f.self_ns, wall));
            let per = f.total_ns.checked_div(f.calls).map(fmt_ns).unwrap_or_default();
            let _ = writeln!(
                o,
                "{st}{:>10} {:>10} {:>10} {:>10} {:>6.1}%{st:#}  {} {DIM}{}:{}{DIM:#}",
                thousands(f.calls),
                fmt_ns(f.total_ns),
                fmt_ns(f.self_ns),
                per,
                pct(f.total_ns, wall),
                f.qualname,
                f.file,
                f.line
            );
        }
    }
}

/// The lines with the most self time, ranked, with a bar.
fn hottest(o: &mut String, r: &Report, wall: u64, top: usize) {
    let mut hot: Vec<(&FileReport, &Line)> = r
        .files
        .iter()
        .flat_map(|f| f.lines.iter().map(move |l| (f, l)))
        .collect();
    hot.sort_by(|a, b| {
        b.1.self_ns
            .cmp(&a.1.self_ns)
            .then(a.0.display.cmp(&b.0.display))
            .then(a.1.line.cmp(&b.1.line))
    });
    if !hot.is_empty() && top > 0 {
        let _ = writeln!(
            o,
            "\n{HEAD}Hottest lines{HEAD:#} {DIM}(by self time: the line itself, not your code it called){DIM:#}"
        );
        for (i, (f, l)) in hot.iter().take(top).enumerate() {
            let p = pct(l.self_ns, wall);
            let st = heat(p);
            let _ = writeln!(
                o,
                "{:>3}. {st}{} {:>6.1}% {:>10}{st:#} {DIM}of {:>10}{DIM:#} {:>12} hits  {BOLD}{}:{}{BOLD:#}  {}",
                i + 1,
                bar(p, 10),
                p,
                fmt_ns(l.self_ns),
                fmt_ns(l.time_ns),
                thousands(l.hits),
                f.display,
                l.line,
                l.source.trim()
            );
        }
    }
}

fn outcome(o: &mut String, r: &Report) {
    let oc = &r.outcome;
    if let Some(u) = &oc.unmeasured {
        let after = u
            .after
            .as_ref()
            .map(|l| format!(" after {}:{}", l.file, l.line))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "{BAD}PARTIAL{BAD:#} {}, but refscope stopped measuring{after}: {}.",
            oc.description, u.reason
        );
    } else if oc.partial {
        let at = oc
            .last_line
            .as_ref()
            .map(|l| format!(" It was last at {}:{}.", l.file, l.line))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "{BAD}PARTIAL{BAD:#} {}; figures cover everything measured until then.{at}",
            oc.description
        );
    } else {
        let _ = writeln!(o, "{DIM}{}.{DIM:#}", oc.description);
    }
    if oc.truncated {
        let _ = writeln!(
            o,
            "{WARM}note:{WARM:#} the capture ran out of room; lines first seen after that were not recorded."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Render;

    fn plain(r: &Report) -> String {
        anstream::adapter::strip_str(&Terminal::top(3).render(r)).to_string()
    }

    #[test]
    fn finished_run() {
        insta::assert_snapshot!(plain(&sample::report(false)));
    }

    #[test]
    fn partial_run_says_so_first_and_last() {
        let text = plain(&sample::report(true));
        assert!(text.lines().nth(1).unwrap().starts_with("PARTIAL"));
        assert!(text.trim_end().lines().last().unwrap().starts_with("PARTIAL"));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn hottest_lines_are_styled() {
        let styled = Terminal::top(3).render(&sample::report(false));
        assert!(styled.contains(&format!("{HOT}")));
    }

    #[test]
    fn times_read_naturally() {
        assert_eq!(fmt_ns(999), "999 ns");
        assert_eq!(fmt_ns(1_500), "1.5 µs");
        assert_eq!(fmt_ns(2_250_000), "2.2 ms");
        assert_eq!(fmt_ns(3_000_000_000), "3.00 s");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
