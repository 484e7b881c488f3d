//! The size and heap pages: bytes by type as bars, the largest parts as a tree you can open,
//! and (heap) the globals that alone keep the most alive.

use super::{page, share, Head, Html};
use crate::record::heap::HeapReport;
use crate::record::size::SizeReport;
use crate::report::numbers::{fmt_bytes, thousands};
use crate::report::Render;
use serde::Serialize;

/// Type rows the page holds at most.
const TYPE_ROWS: usize = 200;

#[derive(Serialize)]
struct TreeNode<'a> {
    node: &'a crate::record::size::TreeNode,
    share: f64,
    children: Vec<TreeNode<'a>>,
}

fn nest(r: &SizeReport) -> Option<TreeNode<'_>> {
    let whole = r.tree.first()?.bytes.max(1);
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); r.tree.len()];
    for (i, n) in r.tree.iter().enumerate() {
        if let Some(p) = n.parent {
            kids[p as usize].push(i);
        }
    }
    fn build<'a>(r: &'a SizeReport, kids: &[Vec<usize>], i: usize, whole: u64) -> TreeNode<'a> {
        let mut children: Vec<_> = kids[i].iter().map(|&c| build(r, kids, c, whole)).collect();
        children.sort_by_key(|c| std::cmp::Reverse(c.node.bytes));
        TreeNode {
            node: &r.tree[i],
            share: share(r.tree[i].bytes, whole),
            children,
        }
    }
    Some(build(r, &kids, 0, whole))
}

impl Render<SizeReport> for Html {
    fn render(&self, r: &SizeReport) -> String {
        let deep = r.deep.max(1);
        let types: Vec<_> = r
            .by_type
            .iter()
            .take(TYPE_ROWS)
            .map(|t| (t, share(t.bytes, deep), share(t.retained_bytes, deep)))
            .collect();
        let model = serde_json::json!({
            "r": r,
            "types": types,
            "types_left": r.by_type.len().saturating_sub(TYPE_ROWS),
            "tree": nest(r),
            "retained_share": r.retained.map(|b| share(b, deep)),
            "shallow_share": share(r.shallow, deep),
        });
        let meta = vec![
            r.type_name.clone(),
            format!("deep {}", fmt_bytes(r.deep)),
            format!("{} objects", thousands(r.objects)),
            format!("Python {}", r.python),
        ];
        page("size.html", Head::new("size", &r.what, meta, None), model, &())
    }
}

impl Render<HeapReport> for Html {
    fn render(&self, r: &HeapReport) -> String {
        let whole = r.bytes.max(1);
        let types: Vec<_> = r
            .by_type
            .iter()
            .take(TYPE_ROWS)
            .map(|t| (t, share(t.bytes, whole), share(t.retained, whole)))
            .collect();
        let most = r.retainers.first().map_or(1, |x| x.retained.max(1));
        let retainers: Vec<_> = r.retainers.iter().map(|x| (x, share(x.retained, most))).collect();
        let model = serde_json::json!({
            "r": r,
            "types": types,
            "types_left": r.by_type.len().saturating_sub(TYPE_ROWS),
            "retainers": retainers,
        });
        let meta = vec![format!("{} live objects", thousands(r.objects)), fmt_bytes(r.bytes)];
        let title = format!("live objects at {}", r.when);
        page("heap.html", Head::new("heap", title, meta, None), model, &())
    }
}
