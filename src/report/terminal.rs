//! The terminal report: annotated source per file, a function summary and the hottest lines.
//!
//! Styles are always written; the caller's stream (anstream) drops them when colour is off.

use super::*;
use anstyle::{AnsiColor, Style};
use std::fmt::Write;

pub(crate) const BOLD: Style = Style::new().bold();
pub(crate) const DIM: Style = Style::new().dimmed();
const HOT: Style = AnsiColor::Red.on_default().bold();
pub(crate) const WARM: Style = AnsiColor::Yellow.on_default();
pub(crate) const HEAD: Style = AnsiColor::Cyan.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();

pub struct Options {
    /// How many hottest lines to list.
    pub top: usize,
}

pub fn fmt_ns(ns: u64) -> String {
    let n = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", n / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", n / 1e6)
    } else {
        format!("{:.2} s", n / 1e9)
    }
}

pub fn fmt_bytes(b: u64) -> String {
    let n = b as f64;
    if b < 1024 {
        format!("{b} B")
    } else if b < 1024 * 1024 {
        format!("{:.1} KiB", n / 1024.0)
    } else if b < 1024 * 1024 * 1024 {
        format!("{:.1} MiB", n / 1048576.0)
    } else {
        format!("{:.2} GiB", n / 1073741824.0)
    }
}

pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pct(ns: u64, wall: u64) -> f64 {
    if wall == 0 {
        0.0
    } else {
        100.0 * ns as f64 / wall as f64
    }
}

fn heat(p: f64) -> Style {
    if p >= 10.0 {
        HOT
    } else if p >= 2.0 {
        WARM
    } else {
        Style::new()
    }
}

pub(crate) fn bar(p: f64, width: usize) -> String {
    let cells = (p / 100.0 * width as f64 * 8.0).round() as usize;
    let full = (cells / 8).min(width);
    let mut s = "█".repeat(full);
    if full < width {
        s.push(['\0', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][cells % 8]);
        s = s.replace('\0', "");
    }
    format!("{s:<width$}")
}

pub fn render(r: &Report, opts: &Options) -> String {
    let mut o = String::new();
    let wall = r.wall_ns.max(1);
    let _ = writeln!(
        o,
        "{HEAD}refscope run{HEAD:#} {BOLD}{}{BOLD:#}  ·  {}  ·  {} line events  ·  Python {}",
        r.program.target,
        fmt_ns(r.wall_ns),
        thousands(r.line_events),
        r.python.version
    );
    outcome(&mut o, r);
    let mem = r.memory.is_some();
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
            memory::net(&l.memory)
        ),
    };
    let blank = |o: &mut String, n: u32, src: &str| {
        let _ = writeln!(
            o,
            "{DIM}{n:>6} {:>10} {:>10} {:>10} {:>10} {:>7}{}  {src}{DIM:#}",
            "",
            "",
            "",
            "",
            "",
            mem_cols(None)
        );
    };

    for f in &r.files {
        let _ = writeln!(o, "\n{HEAD}{}{HEAD:#}", f.display);
        let _ = writeln!(
            o,
            "{BOLD}{:>6} {:>10} {:>10} {:>10} {:>10} {:>7}{}  Source{BOLD:#}",
            "Line",
            "Hits",
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
        for l in &f.lines {
            if let Some(p) = prev {
                let gap = l.line.saturating_sub(p + 1);
                if gap > 0 && gap <= 4 && !f.source.is_empty() {
                    for n in p + 1..l.line {
                        blank(
                            &mut o,
                            n,
                            f.source.get(n as usize - 1).map(String::as_str).unwrap_or(""),
                        );
                    }
                } else if gap > 0 {
                    let _ = writeln!(o, "{DIM}{:>6}{DIM:#}", "⋮");
                }
            }
            let per = if l.hits > 0 {
                fmt_ns(l.time_ns / l.hits)
            } else {
                String::new()
            };
            let st = heat(pct(l.self_ns, wall));
            let _ = writeln!(
                o,
                "{st}{:>6} {:>10} {:>10} {:>10} {:>10} {:>6.1}%{}  {}{st:#}",
                l.line,
                thousands(l.hits),
                fmt_ns(l.time_ns),
                fmt_ns(l.self_ns),
                per,
                pct(l.time_ns, wall),
                mem_cols(Some(l)),
                l.source
            );
            prev = Some(l.line);
        }
    }

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
        for f in r.functions.iter().take(opts.top.max(10) * 2) {
            let st = heat(pct(f.self_ns, wall));
            let per = if f.calls > 0 {
                fmt_ns(f.total_ns / f.calls)
            } else {
                String::new()
            };
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
    if !hot.is_empty() && opts.top > 0 {
        let _ = writeln!(
            o,
            "\n{HEAD}Hottest lines{HEAD:#} {DIM}(by self time: the line itself, not your code it called){DIM:#}"
        );
        for (i, (f, l)) in hot.iter().take(opts.top).enumerate() {
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
    memory::render(&mut o, r, opts.top);
    if r.outcome.partial {
        let _ = writeln!(o);
        outcome(&mut o, r);
    }
    o
}

fn outcome(o: &mut String, r: &Report) {
    let oc = &r.outcome;
    if oc.partial {
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

    fn plain(r: &Report) -> String {
        anstream::adapter::strip_str(&render(r, &Options { top: 3 })).to_string()
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
        let styled = render(&sample::report(false), &Options { top: 3 });
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
