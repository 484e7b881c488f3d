//! Capture → the profile report: the call-tree nodes with their counters, and every function
//! with its totals (recursion counted once), callers and callees.

use super::run::{display, outcome, wall_ns, Index, Run};
use crate::record::{
    Capture, FuncKind, Record, FLAG_TRUNCATED, NO_SLOT, SLOT_WORDS, W_ALLOCS, W_ALLOC_BYTES, W_HITS, W_OBJS_NEW,
    W_SELF, W_TICKS,
};
use crate::report::profile::*;
use rustc_hash::FxHashMap;

pub fn profile(cap: &Capture, run: &Run, memory: bool) -> Profile {
    let ix = Index::of(cap);
    let wall_ns = wall_ns(cap, run);
    let outcome = outcome(cap, run, &ix, wall_ns, None);
    let ns = |t: u64| run.calibration.ns(t);
    let counter = |slot: u32| cap.counters.get(slot as usize).copied().unwrap_or([0; SLOT_WORDS]);

    // Functions by their worker id; only those with a node are kept.
    let mut funcs: FxHashMap<u32, usize> = FxHashMap::default();
    let mut functions: Vec<Function> = Vec::new();
    let mut thread_names: FxHashMap<u32, String> = FxHashMap::default();
    let mut by_slot: FxHashMap<u32, usize> = FxHashMap::default();
    let mut nodes: Vec<Node> = Vec::new();
    let mut roots: Vec<(u32, usize)> = Vec::new();
    let mut chart = Chart::default();
    let rel = |t: u64| ns(t.saturating_sub(cap.start_ticks));
    for r in &cap.records {
        match r {
            Record::Func {
                id,
                kind,
                name,
                label,
                file,
                line,
                yours,
            } => {
                funcs.insert(*id, functions.len());
                let python = *kind == FuncKind::Python;
                functions.push(Function {
                    id: functions.len(),
                    name: name.clone(),
                    kind: match kind {
                        FuncKind::Python => "python",
                        FuncKind::Builtin => "builtin",
                        FuncKind::Class => "class",
                    }
                    .into(),
                    file: if python { display(file, run.cwd) } else { file.clone() },
                    line: *line,
                    pstats_key: (file.clone(), *line, label.clone()),
                    yours: *yours,
                    calls: 0,
                    primitive_calls: 0,
                    total_ns: 0,
                    self_ns: 0,
                    alloc_bytes: 0,
                    callers: Vec::new(),
                    callees: Vec::new(),
                });
            }
            Record::Thread { id, name } if !name.is_empty() || !thread_names.contains_key(id) => {
                thread_names.insert(*id, name.clone());
            }
            Record::Node {
                slot,
                parent,
                func,
                thread,
            } => {
                let c = counter(*slot);
                let id = nodes.len();
                let parent = (*parent != NO_SLOT).then(|| by_slot.get(parent).copied()).flatten();
                let function = (*func != NO_SLOT).then(|| funcs.get(func).copied()).flatten();
                if parent.is_none() && *func == NO_SLOT {
                    roots.push((*thread, id));
                }
                nodes.push(Node {
                    id,
                    parent,
                    function,
                    thread: *thread,
                    calls: c[W_HITS],
                    total_ns: ns(c[W_TICKS]),
                    self_ns: ns(c[W_SELF]),
                    alloc_bytes: c[W_ALLOC_BYTES],
                    allocations: c[W_ALLOCS],
                    objects_created: c[W_OBJS_NEW],
                    children: Vec::new(),
                });
                if let Some(p) = parent {
                    nodes[p].children.push(id);
                }
                by_slot.insert(*slot, id);
            }
            Record::Spans { min_ticks, rows } => {
                chart.recorded = true;
                chart.min_ns = ns(*min_ticks);
                chart.spans = rows
                    .iter()
                    .filter_map(|&(slot, start, end)| {
                        Some(Span {
                            node: *by_slot.get(&slot)?,
                            start_ns: rel(start),
                            end_ns: rel(end),
                        })
                    })
                    .collect();
            }
            _ => {}
        }
    }
    for n in &mut nodes {
        if n.function.is_none() {
            // A root: its time is its children's; what it allocated outside any call is its own.
            n.total_ns = 0;
        }
    }
    let mut threads: Vec<Thread> = roots
        .iter()
        .map(|&(id, root)| Thread {
            id,
            name: thread_names.get(&id).cloned().unwrap_or_default(),
            root,
            total_ns: 0,
        })
        .collect();
    for t in &mut threads {
        let total: u64 = nodes[t.root].children.iter().map(|&c| nodes[c].total_ns).sum();
        nodes[t.root].total_ns = total;
        t.total_ns = total;
        if t.name.is_empty() {
            t.name = format!("Thread {}", t.id);
        }
    }
    for i in 0..nodes.len() {
        let mut kids = std::mem::take(&mut nodes[i].children);
        kids.sort_by(|&a, &b| nodes[b].total_ns.cmp(&nodes[a].total_ns).then(a.cmp(&b)));
        nodes[i].children = kids;
    }
    aggregate(&mut functions, &nodes, &threads);
    Profile {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        refscope_version: env!("CARGO_PKG_VERSION").into(),
        python: ix.python.clone(),
        program: run.program.clone(),
        outcome,
        wall_ns,
        memory,
        node_limit: (cap.flags & FLAG_TRUNCATED != 0).then_some(crate::record::MAX_NODES),
        threads,
        nodes,
        functions,
        chart,
    }
}

/// Function totals and edges from the trees: a node with a call of the same function further up
/// its path is recursive, and its time is already in that call's.
fn aggregate(functions: &mut [Function], nodes: &[Node], threads: &[Thread]) {
    let mut edges: FxHashMap<(usize, usize), Edge> = FxHashMap::default();
    let mut on_path: FxHashMap<usize, u32> = FxHashMap::default();
    for t in threads {
        // Depth first, without recursion: (node, entering).
        let mut todo = vec![(t.root, true)];
        while let Some((id, entering)) = todo.pop() {
            let n = &nodes[id];
            let Some(f) = n.function else {
                if entering {
                    todo.extend(n.children.iter().rev().map(|&c| (c, true)));
                }
                continue;
            };
            if !entering {
                if let Some(k) = on_path.get_mut(&f) {
                    *k -= 1;
                }
                continue;
            }
            let outer = on_path.get(&f).copied().unwrap_or(0) == 0;
            let func = &mut functions[f];
            func.calls += n.calls;
            func.self_ns += n.self_ns;
            func.alloc_bytes += n.alloc_bytes;
            if outer {
                func.primitive_calls += n.calls;
                func.total_ns += n.total_ns;
            }
            if let Some(caller) = n.parent.and_then(|p| nodes[p].function) {
                let e = edges.entry((caller, f)).or_insert(Edge {
                    function: 0,
                    calls: 0,
                    primitive_calls: 0,
                    total_ns: 0,
                    self_ns: 0,
                });
                e.calls += n.calls;
                e.self_ns += n.self_ns;
                if outer {
                    e.primitive_calls += n.calls;
                    e.total_ns += n.total_ns;
                }
            }
            *on_path.entry(f).or_insert(0) += 1;
            todo.push((id, false));
            todo.extend(n.children.iter().rev().map(|&c| (c, true)));
        }
    }
    let mut edges: Vec<_> = edges.into_iter().collect();
    edges.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(&b.0)));
    for ((caller, callee), e) in edges {
        functions[caller].callees.push(Edge {
            function: callee,
            ..e.clone()
        });
        functions[callee].callers.push(Edge { function: caller, ..e });
    }
}
