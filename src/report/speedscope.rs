//! A profile in speedscope's file format (https://www.speedscope.app/file-format-schema.json):
//! one evented profile per thread, in nanoseconds. refscope keeps call trees, not a timeline,
//! so each node's calls are drawn as one block and siblings follow each other, heaviest first
//! (speedscope's "left heavy" order).

use super::profile::Profile;
use serde_json::{json, Value};

pub fn render(p: &Profile) -> String {
    let mut frames: Vec<Value> = Vec::new();
    let mut frame_of: rustc_hash::FxHashMap<usize, usize> = Default::default();
    let mut profiles = Vec::new();
    for t in &p.threads {
        let mut events = Vec::new();
        // (node, start, entering)
        let mut todo = vec![];
        let mut at = 0u64;
        for &c in p.nodes[t.root].children.iter().rev() {
            todo.push((c, true));
        }
        let mut stack_start: Vec<u64> = Vec::new();
        while let Some((id, entering)) = todo.pop() {
            let n = &p.nodes[id];
            let Some(f) = n.function else { continue };
            let frame = *frame_of.entry(f).or_insert_with(|| {
                let func = &p.functions[f];
                let mut fr = json!({ "name": func.name });
                if func.kind == "python" {
                    fr["file"] = json!(func.file);
                    fr["line"] = json!(func.line);
                }
                frames.push(fr);
                frames.len() - 1
            });
            if entering {
                events.push(json!({"type": "O", "frame": frame, "at": at}));
                stack_start.push(at);
                todo.push((id, false));
                for &c in n.children.iter().rev() {
                    todo.push((c, true));
                }
            } else {
                let start = stack_start.pop().unwrap_or(at);
                // Children used part of the block; the node's own time fills the rest.
                at = at.max(start + n.total_ns.max(1));
                events.push(json!({"type": "C", "frame": frame, "at": at}));
            }
        }
        profiles.push(json!({
            "type": "evented",
            "name": t.name,
            "unit": "nanoseconds",
            "startValue": 0,
            "endValue": at,
            "events": events,
        }));
    }
    let doc = json!({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": { "frames": frames },
        "profiles": profiles,
        "name": format!("refscope profile {}", p.program.target),
        "activeProfileIndex": 0,
        "exporter": format!("refscope {}", p.refscope_version),
    });
    serde_json::to_string(&doc).expect("json serializes")
}
