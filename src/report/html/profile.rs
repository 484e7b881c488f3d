//! The profile as one self-contained HTML page: the flame graph (inferno's SVG, inline), the
//! time-ordered flame chart, the call tree, a sortable and searchable function table, and each
//! function's callers, callees and source lines (with `refscope run`'s per-line figures when a
//! run report was given). No network: everything is inside, and the page's CSP forbids fetches.

use super::{page, Head};
use crate::report::flame::{self, By};
use crate::report::numbers::{fmt_ns, thousands};
use crate::report::profile::{Node, Profile};
use crate::report::run::Line;
use serde::Serialize;
use serde_json::json;

/// One of your files as the page shows it beside its functions.
#[derive(Debug, Serialize)]
pub struct Source {
    /// As the profile's functions name it (`Function::file`).
    pub file: String,
    pub text: Vec<String>,
    /// `refscope run`'s figures for its lines, when a run report was given.
    pub lines: Vec<LineFigures>,
}

#[derive(Debug, Serialize)]
pub struct LineFigures {
    pub line: u32,
    pub hits: u64,
    pub time_ns: u64,
    pub self_ns: u64,
    pub alloc_bytes: u64,
}

impl From<&Line> for LineFigures {
    fn from(l: &Line) -> Self {
        LineFigures {
            line: l.line,
            hits: l.hits,
            time_ns: l.time_ns,
            self_ns: l.self_ns,
            alloc_bytes: l.memory.alloc_bytes,
        }
    }
}

/// The flame chart as the page draws it: per thread, (function, depth, start, end) of each span.
fn chart(p: &Profile) -> serde_json::Value {
    let mut depth = vec![0u32; p.nodes.len()];
    // A parent comes before its children in `nodes`.
    for n in &p.nodes {
        if let Some(up) = n.parent {
            depth[n.id] = if p.nodes[up].function.is_some() {
                depth[up] + 1
            } else {
                0
            };
        }
    }
    let threads: Vec<_> = p
        .threads
        .iter()
        .map(|t| {
            let mut spans: Vec<_> = p
                .chart
                .spans
                .iter()
                .filter(|s| p.nodes[s.node].thread == t.id)
                .filter_map(|s| {
                    let f = p.nodes[s.node].function?;
                    Some((s.start_ns, depth[s.node], f, s.end_ns))
                })
                .collect();
            spans.sort_unstable();
            let spans: Vec<_> = spans
                .into_iter()
                .map(|(s, d, f, e)| [f as u64, d as u64, s, e])
                .collect();
            json!({"name": t.name, "spans": spans})
        })
        .collect();
    json!({"recorded": p.chart.recorded, "min_ns": p.chart.min_ns, "threads": threads})
}

/// Tree nodes the page holds at most (the largest, with their ancestors); the rest fold.
pub const PAGE_NODES: usize = 5000;

/// The merged tree cut to `budget` nodes: the largest by total time and their ancestors, in an
/// order where parents come first. Each kept node says how many children were folded.
fn prune(merged: &[Node], budget: usize) -> Vec<serde_json::Value> {
    let mut keep = vec![false; merged.len()];
    let mut order: Vec<usize> = (0..merged.len()).collect();
    order.sort_by(|&a, &b| merged[b].total_ns.cmp(&merged[a].total_ns).then(a.cmp(&b)));
    for &i in order.iter().take(budget) {
        let mut at = Some(i);
        while let Some(j) = at {
            if keep[j] {
                break;
            }
            keep[j] = true;
            at = merged[j].parent;
        }
    }
    let mut index = vec![usize::MAX; merged.len()];
    let mut out = Vec::new();
    // The merged tree lists a parent before its children.
    for (i, n) in merged.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        index[i] = out.len();
        let more = n.children.iter().filter(|&&c| !keep[c]).count();
        out.push(json!({
            "parent": n.parent.map(|p| index[p]),
            "function": n.function,
            "calls": n.calls,
            "total_ns": n.total_ns,
            "self_ns": n.self_ns,
            "alloc_bytes": n.alloc_bytes,
            "more": more,
        }));
    }
    out
}

pub fn html(p: &Profile, sources: &[Source]) -> String {
    let merged = p.merged();
    let tree = prune(&merged, PAGE_NODES);
    let note = if tree.len() < merged.len() {
        format!(
            "The {} largest of {} nodes; the others are folded (the JSON report has them all).",
            thousands(tree.len() as u64 - 1),
            thousands(merged.len() as u64 - 1)
        )
    } else {
        "Time with callees, share of the run, calls.".to_string()
    };
    let data = json!({
        "functions": p.functions,
        "tree": tree,
        "measured_ns": p.measured_ns(),
        "memory": p.memory,
        "tree_note": note,
        "chart": chart(p),
        "sources": sources,
    });
    let svg = flame::svg(p, By::Time, false);
    let svg = svg.find("<svg").map_or("", |i| &svg[i..]).to_string();
    let calls: u64 = p.functions.iter().map(|f| f.calls).sum();
    let meta = vec![
        fmt_ns(p.wall_ns),
        format!("{} calls", thousands(calls)),
        format!("{} threads", p.threads.len()),
        format!("Python {}", p.python.version),
        p.outcome.description.clone(),
    ];
    let partial = p
        .outcome
        .partial
        .then(|| "the figures run up to the moment the program stopped.".to_string());
    let head = Head::new("profile", &p.program.target, meta, partial);
    page("profile.html", head, json!({ "svg": svg }), &data)
}
