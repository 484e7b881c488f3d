//! The heap report: a census of live objects by type and the globals that retain the most.

use super::*;
use crate::record::heap::HeapReport;
use crate::report::Render;
use std::fmt::Write;

impl Render<HeapReport> for Terminal {
    fn render(&self, r: &HeapReport) -> String {
        heap(r, self.top)
    }
}

fn heap(r: &HeapReport, top: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{HEAD}refscope heap{HEAD:#} at {BOLD}{}{BOLD:#}  ·  {} live objects  ·  {}",
        r.when,
        r.objects,
        fmt_bytes(r.bytes)
    );
    let total = r.bytes.max(1) as f64;
    let _ = writeln!(
        o,
        "\n{BOLD}{:>10} {:>12} {:>12}  {:<25}  type{BOLD:#}",
        "count", "shallow", "retained", ""
    );
    for t in r.by_type.iter().take(top) {
        let n = ((t.bytes as f64 / total) * 25.0).round() as usize;
        let _ = writeln!(
            o,
            "{:>10} {:>12} {:>12}  {BAR}{:<25}{BAR:#}  {}",
            t.count,
            fmt_bytes(t.bytes),
            if t.retained > 0 {
                fmt_bytes(t.retained)
            } else {
                String::new()
            },
            "█".repeat(n.min(25)),
            t.type_name
        );
    }
    let _ = writeln!(
        o,
        "{DIM}retained: bytes of that type one global of your modules alone keeps alive{DIM:#}"
    );
    if !r.retainers.is_empty() {
        let _ = writeln!(
            o,
            "\n{BOLD}Top retainers{BOLD:#} {DIM}(what `del` of the name would free){DIM:#}"
        );
        let _ = writeln!(
            o,
            "{BOLD}{:>12} {:>10} {:>12}  name{BOLD:#}",
            "retained", "objects", "deep"
        );
        for x in r.retainers.iter().take(top) {
            let _ = writeln!(
                o,
                "{:>12} {:>10} {:>12}  {}  {DIM}{}{DIM:#}",
                fmt_bytes(x.retained),
                x.retained_objects,
                fmt_bytes(x.deep),
                x.path,
                x.type_name
            );
        }
    }
    o
}
