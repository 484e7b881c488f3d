//! Flame graphs of a profile: folded stacks (`a;b;c 42`, one line per node, its own time or
//! memory as the count) and the SVG `inferno` draws from them, merged over threads.

use super::profile::{Node, Profile};

/// What a flame graph's widths stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// Nanoseconds of time.
    Time,
    /// Bytes allocated (`--memory`).
    Alloc,
}

/// How a node reads in a stack: `name (file:line)` for Python functions, the name alone for C.
pub fn frame_name(p: &Profile, n: &Node) -> String {
    let name = match p.function_of(n) {
        None => "all".to_string(),
        Some(f) if f.kind == "python" => format!("{} ({}:{})", f.name, f.file, f.line),
        Some(f) => f.name.clone(),
    };
    name.replace(';', ",")
}

/// Folded stacks of the merged tree: one line per node with a non-zero count, root first.
pub fn folded(p: &Profile, by: By) -> String {
    let merged = p.merged();
    let mut out = String::new();
    let mut todo: Vec<(usize, String)> = merged[0].children.iter().rev().map(|&c| (c, String::new())).collect();
    while let Some((id, prefix)) = todo.pop() {
        let n = &merged[id];
        let stack = if prefix.is_empty() {
            frame_name(p, n)
        } else {
            format!("{prefix};{}", frame_name(p, n))
        };
        let count = match by {
            By::Time => n.self_ns,
            By::Alloc => n.alloc_bytes,
        };
        if count > 0 {
            out.push_str(&format!("{stack} {count}\n"));
        }
        todo.extend(n.children.iter().rev().map(|&c| (c, stack.clone())));
    }
    out
}

/// The flame graph as SVG (`icicle`: the root on top); interactive with its own script (click to
/// zoom, Ctrl-F to search), readable without it.
pub fn svg(p: &Profile, by: By, icicle: bool) -> String {
    let lines = folded(p, by);
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = format!(
        "refscope profile {}: {}",
        p.program.target,
        match by {
            By::Time => "time",
            By::Alloc => "memory allocated",
        }
    );
    opt.subtitle = Some(format!(
        "Python {}; width = {}",
        p.python.version,
        match by {
            By::Time => "time, callees included",
            By::Alloc => "bytes allocated, callees included",
        }
    ));
    opt.count_name = match by {
        By::Time => "ns".into(),
        By::Alloc => "bytes".into(),
    };
    opt.deterministic = true;
    opt.hash = true;
    if icicle {
        opt.direction = inferno::flamegraph::Direction::Inverted;
    }
    let mut out = Vec::new();
    let empty = lines.is_empty();
    let text = if empty { "all 1\n".to_string() } else { lines };
    if inferno::flamegraph::from_lines(&mut opt, text.lines(), &mut out).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}
