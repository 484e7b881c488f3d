//! The terminal format: one file per report, shared styles and number formats.
//!
//! Styles are always written; the caller's stream (anstream) drops them when colour is off.

mod bench;
mod heap;
mod memory;
mod profile;
mod run;
mod size;

use crate::report::memory::LineMemory;
pub(crate) use crate::report::numbers::{fmt_bytes, fmt_ns, thousands};
use crate::report::run::Location;
use anstyle::{AnsiColor, Style};

pub(crate) const BOLD: Style = Style::new().bold();
pub(crate) const DIM: Style = Style::new().dimmed();
const HOT: Style = AnsiColor::Red.on_default().bold();
pub(crate) const WARM: Style = AnsiColor::Yellow.on_default();
pub(crate) const HEAD: Style = AnsiColor::Cyan.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();

pub(crate) const WARN: Style = AnsiColor::Yellow.on_default().bold();
pub(crate) const GOOD: Style = AnsiColor::Green.on_default().bold();
pub(crate) const BAR: Style = AnsiColor::Blue.on_default();

/// `stmt` on one line, cut to `width` characters.
pub(crate) fn short(stmt: &str, width: usize) -> String {
    let one: String = stmt.replace('\n', "; ");
    if one.chars().count() <= width {
        one
    } else {
        format!("{}…", one.chars().take(width - 1).collect::<String>())
    }
}

/// The terminal format and its options.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    /// How many rows of each ranking to show (hottest lines, types, globals, largest parts).
    pub top: usize,
    /// Bench: the time unit of the table (None: chosen from the figures).
    pub unit: Option<Unit>,
    /// Bench: also print every sample.
    pub verbose: bool,
    /// Run: every line that ran in the annotated source, not only those that matter.
    pub full: bool,
}

impl Terminal {
    pub fn top(top: usize) -> Terminal {
        Terminal {
            top,
            unit: None,
            verbose: false,
            full: false,
        }
    }
}

/// A time unit for a table: timeit's names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Nsec,
    Usec,
    Msec,
    Sec,
}

impl Unit {
    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s {
            "nsec" => Unit::Nsec,
            "usec" => Unit::Usec,
            "msec" => Unit::Msec,
            "sec" => Unit::Sec,
            _ => return None,
        })
    }
    pub(crate) fn auto(seconds: f64) -> Unit {
        if seconds < 1e-6 {
            Unit::Nsec
        } else if seconds < 1e-3 {
            Unit::Usec
        } else if seconds < 1.0 {
            Unit::Msec
        } else {
            Unit::Sec
        }
    }
    pub(crate) fn scale(self) -> (f64, &'static str) {
        match self {
            Unit::Nsec => (1e9, "ns"),
            Unit::Usec => (1e6, "µs"),
            Unit::Msec => (1e3, "ms"),
            Unit::Sec => (1.0, "s"),
        }
    }
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
