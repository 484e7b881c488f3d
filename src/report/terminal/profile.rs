//! The profile in the terminal: the call tree (merged over threads, small calls folded) and the
//! functions with the most time of their own, with their callers and callees.

use super::*;
use crate::report::profile::*;
use crate::report::Render;
use std::fmt::Write;

/// Tree rows at most; the rest is in the JSON and HTML reports.
const TREE_ROWS: usize = 40;
/// Calls under this share of the run fold into one "more" row per parent…
const MIN_SHARE: f64 = 0.01;
/// …when it has more children than this.
const FEW: usize = 3;

impl Render<Profile> for Terminal {
    fn render(&self, p: &Profile) -> String {
        let mut o = String::new();
        let total = p.measured_ns().max(1);
        let calls: u64 = p.functions.iter().map(|f| f.calls).sum();
        let _ = writeln!(
            o,
            "{HEAD}refscope profile{HEAD:#} {BOLD}{}{BOLD:#}  ·  {}  ·  {} calls  ·  Python {}",
            p.program.target,
            fmt_ns(p.wall_ns),
            thousands(calls),
            p.python.version
        );
        outcome(&mut o, p);
        if p.threads.len() > 1 {
            let list: Vec<String> = p
                .threads
                .iter()
                .map(|t| format!("{} {}", t.name, fmt_ns(t.total_ns)))
                .collect();
            let _ = writeln!(o, "{} threads, merged below: {}", p.threads.len(), list.join(", "));
        }
        tree(&mut o, p, total);
        functions(&mut o, p, total, self.top);
        edges(&mut o, p, 3);
        if let Some(n) = p.node_limit {
            let _ = writeln!(
                o,
                "\n{WARN}note{WARN:#}: the call tree reached {} nodes; calls in new places after that were charged to their caller.",
                thousands(n as u64)
            );
        }
        if p.outcome.partial {
            let _ = writeln!(o);
            outcome(&mut o, p);
        }
        o
    }
}

fn outcome(o: &mut String, p: &Profile) {
    let style = if p.outcome.partial { WARN } else { DIM };
    let _ = writeln!(o, "{style}{}.{style:#}", p.outcome.description);
    if p.outcome.partial {
        let _ = writeln!(
            o,
            "{WARN}PARTIAL{WARN:#}: the figures run up to the moment the program stopped."
        );
    }
    if let Some(u) = &p.outcome.unmeasured {
        let _ = writeln!(o, "{WARN}not measured{WARN:#}: {}", u.reason);
    }
}

fn label(p: &Profile, n: &Node) -> String {
    match p.function_of(n) {
        None => "(all threads)".into(),
        Some(f) if f.kind == "python" => format!("{BOLD}{}{BOLD:#}  {DIM}{}:{}{DIM:#}", f.name, f.file, f.line),
        Some(f) if f.kind == "class" => format!("{}  {DIM}class{DIM:#}", f.name),
        Some(f) => format!("{}  {DIM}built-in{DIM:#}", f.name),
    }
}

fn share_style(share: f64) -> Style {
    if share >= 0.3 {
        HOT
    } else if share >= 0.1 {
        WARM
    } else {
        Style::new()
    }
}

fn tree(o: &mut String, p: &Profile, total: u64) {
    let merged = p.merged();
    let _ = writeln!(
        o,
        "\n{HEAD}Call tree{HEAD:#} {DIM}(time with callees, share of the run, calls; calls under {:.0}% folded){DIM:#}",
        MIN_SHARE * 100.0
    );
    let mut rows = 0;
    let mut cut = false;
    // (node, prefix for its children, its own connector)
    let mut todo: Vec<(usize, String, String)> = Vec::new();
    push_children(&merged, total, &merged[0].children, "", &mut todo);
    // Top-level calls have no connector.
    for r in todo.iter_mut() {
        if r.0 != usize::MAX {
            r.2.clear();
        }
    }
    while let Some((id, prefix, connector)) = todo.pop() {
        if rows >= TREE_ROWS {
            cut = true;
            break;
        }
        rows += 1;
        if id == usize::MAX {
            // A folded row: `connector` holds its text.
            let _ = writeln!(o, "{prefix}{DIM}{connector}{DIM:#}");
            continue;
        }
        let n = &merged[id];
        let share = n.total_ns as f64 / total as f64;
        let st = share_style(share);
        // A recursion whose every level only calls itself is one row.
        let (mut last, mut levels, mut calls) = (id, 1, n.calls);
        while let [only] = merged[last].children[..] {
            if merged[only].function != n.function {
                break;
            }
            (last, levels, calls) = (only, levels + 1, calls + merged[only].calls);
        }
        let recursion = if levels > 1 {
            format!("  {DIM}↻ {levels} levels deep{DIM:#}")
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "{:>9} {st}{:>5.1}%{st:#} {:>11}  {prefix}{connector}{}{recursion}",
            fmt_ns(n.total_ns),
            share * 100.0,
            format!("{}×", thousands(calls)),
            label(p, n)
        );
        let n = &merged[last];
        let child_prefix = format!(
            "{prefix}{}",
            match connector.as_str() {
                "├─ " => "│  ",
                "└─ " => "   ",
                _ => "",
            }
        );
        push_children(&merged, total, &n.children, &child_prefix, &mut todo);
    }
    if cut {
        let _ = writeln!(o, "{DIM}… the tree goes on: --html or --json has every node{DIM:#}");
    }
}

/// Queues the children worth a row (in order), and one folded row for the rest.
fn push_children(merged: &[Node], total: u64, kids: &[usize], prefix: &str, todo: &mut Vec<(usize, String, String)>) {
    // A few children are all shown; past that, the small ones fold.
    let min = if kids.len() <= FEW {
        0
    } else {
        (total as f64 * MIN_SHARE) as u64
    };
    let (shown, folded): (Vec<usize>, Vec<usize>) = kids.iter().partition(|&&k| merged[k].total_ns >= min);
    let mut rows: Vec<(usize, String, String)> =
        shown.iter().map(|&k| (k, prefix.to_string(), String::new())).collect();
    if !folded.is_empty() {
        let t: u64 = folded.iter().map(|&k| merged[k].total_ns).sum();
        let c: u64 = folded.iter().map(|&k| merged[k].calls).sum();
        let text = format!("… {} more, {} in {} calls", folded.len(), fmt_ns(t), thousands(c));
        rows.push((usize::MAX, format!("{:>29}{prefix}", ""), text));
    }
    let last = rows.len().saturating_sub(1);
    for (i, r) in rows.iter_mut().enumerate() {
        if r.0 != usize::MAX {
            r.2 = if i == last { "└─ " } else { "├─ " }.into();
        } else {
            r.2 = format!("└─ {}", r.2);
        }
    }
    todo.extend(rows.into_iter().rev());
}

fn functions(o: &mut String, p: &Profile, total: u64, top: usize) {
    let mut fs: Vec<&Function> = p.functions.iter().filter(|f| f.calls > 0 || f.total_ns > 0).collect();
    fs.sort_by(|a, b| b.self_ns.cmp(&a.self_ns).then(b.total_ns.cmp(&a.total_ns)));
    let _ = writeln!(
        o,
        "\n{HEAD}Functions{HEAD:#} {DIM}(top {} by self time; total includes callees, recursion counted once){DIM:#}",
        top.min(fs.len())
    );
    let _ = writeln!(
        o,
        "{BOLD}{:>12} {:>10} {:>10} {:>10} {:>6}  Function{BOLD:#}",
        "Calls", "Total", "Self", "Per call", "% self"
    );
    for f in fs.iter().take(top) {
        let calls = if f.primitive_calls != f.calls {
            format!("{}/{}", thousands(f.calls), thousands(f.primitive_calls))
        } else {
            thousands(f.calls)
        };
        let share = f.self_ns as f64 / total as f64;
        let st = share_style(share);
        let where_ = if f.kind == "python" {
            format!("  {DIM}{}:{}{DIM:#}", f.file, f.line)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "{:>12} {:>10} {:>10} {:>10} {st}{:>5.1}%{st:#}  {}{where_}",
            calls,
            fmt_ns(f.total_ns),
            fmt_ns(f.self_ns),
            fmt_ns(f.total_ns / f.primitive_calls.max(1)),
            share * 100.0,
            f.name
        );
    }
    if fs.iter().any(|f| f.primitive_calls != f.calls) {
        let _ = writeln!(o, "{DIM}calls as N/M: N calls, M of them not recursive{DIM:#}");
    }
}

fn edges(o: &mut String, p: &Profile, top: usize) {
    let mut fs: Vec<&Function> = p.functions.iter().filter(|f| f.self_ns > 0).collect();
    fs.sort_by_key(|f| std::cmp::Reverse(f.self_ns));
    if fs.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n{HEAD}Callers and callees{HEAD:#} {DIM}(of the top {} by self time){DIM:#}",
        top.min(fs.len())
    );
    let list = |es: &[Edge]| -> String {
        let mut parts: Vec<String> = es
            .iter()
            .take(4)
            .map(|e| {
                format!(
                    "{} ({}×, {})",
                    p.functions[e.function].name,
                    thousands(e.calls),
                    fmt_ns(e.total_ns)
                )
            })
            .collect();
        if es.len() > 4 {
            parts.push(format!("{} more", es.len() - 4));
        }
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(" · ")
        }
    };
    for f in fs.iter().take(top) {
        let _ = writeln!(o, "  {BOLD}{}{BOLD:#}", f.name);
        let _ = writeln!(o, "    {DIM}called by{DIM:#} {}", list(&f.callers));
        let _ = writeln!(o, "    {DIM}calls    {DIM:#} {}", list(&f.callees));
    }
}
