//! The size report: shallow, deep and retained size of one object, by type, largest parts.

use super::*;
use crate::record::size::SizeReport;
use crate::report::Render;
use std::fmt::Write;

fn fill(frac: f64, width: usize) -> String {
    let n = (frac * width as f64).round() as usize;
    format!("{:<width$}", "█".repeat(n.min(width)))
}

impl Render<SizeReport> for Terminal {
    fn render(&self, r: &SizeReport) -> String {
        size(r, self.top)
    }
}

fn size(r: &SizeReport, top: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{HEAD}refscope size{HEAD:#} {BOLD}{}{BOLD:#}  ·  {}  ·  Python {}",
        r.what, r.type_name, r.python
    );
    let deep = r.deep.max(1) as f64;
    let mut rows = vec![
        ("shallow", r.shallow, "sys.getsizeof: the object alone".to_string()),
        (
            "deep",
            r.deep,
            format!("{} objects reachable from it, each counted once", r.objects),
        ),
    ];
    if let (Some(b), Some(n)) = (r.retained, r.retained_objects) {
        rows.push(("retained", b, format!("{n} objects freed if it became unreachable")));
    }
    for (name, v, what) in rows {
        let _ = writeln!(
            o,
            "  {BOLD}{name:>8}{BOLD:#} {:>12}  {BAR}{}{BAR:#}  {DIM}{what}{DIM:#}",
            fmt_bytes(v),
            fill(v as f64 / deep, 30)
        );
    }
    if !r.by_type.is_empty() {
        let _ = writeln!(
            o,
            "\n{BOLD}{:>10} {:>12} {:>12}  {:<30}  type{BOLD:#}",
            "count", "deep", "retained", ""
        );
        for t in r.by_type.iter().take(top) {
            let _ = writeln!(
                o,
                "{:>10} {:>12} {:>12}  {BAR}{}{BAR:#}  {}",
                t.count,
                fmt_bytes(t.bytes),
                if r.retained.is_some() {
                    fmt_bytes(t.retained_bytes)
                } else {
                    String::new()
                },
                fill(t.bytes as f64 / deep, 30),
                t.type_name
            );
        }
    }
    if !r.largest.is_empty() {
        let _ = writeln!(o, "\n{BOLD}Largest parts{BOLD:#}");
        for p in r.largest.iter().take(top) {
            let _ = writeln!(
                o,
                "{:>12}  {}  {DIM}{}{DIM:#}",
                fmt_bytes(p.shallow),
                p.path,
                p.type_name
            );
        }
    }
    if !r.include_shared {
        let _ = writeln!(o, "{DIM}Classes, modules, functions and shared singletons are not counted (--include-shared counts them).{DIM:#}");
    }
    if r.unsized_objects > 0 {
        let _ = writeln!(
            o,
            "{WARN}NOT MEASURED{WARN:#}: {} object(s) whose __sizeof__ raised (sys.getsizeof raises too) are counted as 0 B; the figures are short by their size.",
            r.unsized_objects
        );
    }
    o
}
