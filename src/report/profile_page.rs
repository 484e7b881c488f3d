//! The profile as one self-contained HTML page: the flame graph (inferno's SVG, inline), the
//! call tree, a sortable and searchable function table, and each function's callers and callees.
//! No network: everything is inside, and the page's CSP forbids fetches.

use super::flame::{self, By};
use super::numbers::{fmt_ns, thousands};
use super::profile::{Node, Profile};
use serde_json::json;

const PAGE: &str = include_str!("profile.html");

/// Tree nodes the page holds at most (the largest, with their ancestors); the rest fold.
pub const PAGE_NODES: usize = 5000;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

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

pub fn html(p: &Profile) -> String {
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
    });
    let data = serde_json::to_string(&data)
        .expect("json serializes")
        .replace("</", "<\\/");
    let svg = flame::svg(p, By::Time, false);
    let svg = svg.find("<svg").map_or("", |i| &svg[i..]);
    let calls: u64 = p.functions.iter().map(|f| f.calls).sum();
    let mut meta = format!(
        "{} · {} calls · {} threads · Python {} · {}",
        fmt_ns(p.wall_ns),
        thousands(calls),
        p.threads.len(),
        escape(&p.python.version),
        escape(&p.outcome.description)
    );
    if p.outcome.partial {
        meta.push_str(
            " · <span class=\"partial\">PARTIAL: the figures run up to the moment the program stopped</span>",
        );
    }
    PAGE.replacen("/*REFSCOPE_DATA*/null", &data, 1)
        .replace("<!--REFSCOPE_TITLE-->", &escape(&p.program.target))
        .replacen("<!--REFSCOPE_META-->", &meta, 1)
        .replacen("<!--REFSCOPE_SVG-->", svg, 1)
}
