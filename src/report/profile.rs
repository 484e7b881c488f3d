//! The profile report (`refscope profile`): each thread's call tree, and every function with its
//! callers and callees.

use super::run::{Outcome, Program, Python};
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "refscope.profile";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub schema: String,
    pub schema_version: u32,
    pub refscope_version: String,
    pub python: Python,
    pub program: Program,
    pub outcome: Outcome,
    /// Time from the start of the program to its end (or to the moment it was stopped).
    pub wall_ns: u64,
    /// Whether nodes carry memory figures (`--memory`).
    pub memory: bool,
    /// Calls in new places were folded into their caller once the tree had this many nodes.
    pub node_limit: Option<u32>,
    pub threads: Vec<Thread>,
    /// Every node of every thread's tree; a thread's root is the node its `root` names.
    pub nodes: Vec<Node>,
    /// Every function with a node, by `id`.
    pub functions: Vec<Function>,
    /// The calls in the order they ran, for the flame chart.
    pub chart: Chart,
}

/// The longest calls as they ran (a deterministic profile knows the real order).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Chart {
    /// False when the program stopped before the calls were written (they are written at exit).
    pub recorded: bool,
    /// Calls shorter than this are left out (the chart keeps the longest 20,000).
    pub min_ns: u64,
    /// In the order they ended. A span's callers are in the chart whenever it is.
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Span {
    /// Index in `nodes` (which names the thread and the function).
    pub node: usize,
    /// From the start of the program, on the thread's clock with the profiler's time taken out
    /// (so a span's length is what its node's `total_ns` adds up).
    pub start_ns: u64,
    pub end_ns: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Thread {
    pub id: u32,
    pub name: String,
    /// The index in `nodes` of this thread's root (which stands for no function).
    pub root: usize,
    /// Time in the thread's calls.
    pub total_ns: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Node {
    /// Index in `nodes`.
    pub id: usize,
    pub parent: Option<usize>,
    /// Index in `functions`; None for a thread's root.
    pub function: Option<usize>,
    pub thread: u32,
    /// Calls from the parent node (a resumed generator or coroutine is not a new call).
    pub calls: u64,
    /// Time in these calls, what they called included.
    pub total_ns: u64,
    /// `total_ns` less the child nodes' time.
    pub self_ns: u64,
    /// Memory allocated while this node ran, its child nodes not included (`--memory`).
    pub alloc_bytes: u64,
    pub allocations: u64,
    pub objects_created: u64,
    pub children: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Function {
    /// Index in `functions`.
    pub id: usize,
    /// As people say it: `Report.add`, `len`, `list.append`, `range`.
    pub name: String,
    /// `python`, `builtin` (a C function or method) or `class` (a built-in class called).
    pub kind: String,
    /// Python functions: their file (as the report shows it) and first line; `~` and 0 otherwise.
    pub file: String,
    pub line: u32,
    /// cProfile's key for this function: (`co_filename`, `co_firstlineno`, `co_name`), or
    /// (`~`, 0, cProfile's label) for C functions.
    pub pstats_key: (String, u32, String),
    /// Whether the function is in your code (other functions get a node only when your code
    /// calls them directly).
    pub yours: bool,
    pub calls: u64,
    /// Calls that were not recursive (no call of the same function further up the stack).
    pub primitive_calls: u64,
    /// Time inside the function, what it called included, recursion counted once.
    pub total_ns: u64,
    pub self_ns: u64,
    pub alloc_bytes: u64,
    pub callers: Vec<Edge>,
    pub callees: Vec<Edge>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Edge {
    /// Index in `functions`.
    pub function: usize,
    pub calls: u64,
    /// Of those calls, the ones that were not recursive.
    pub primitive_calls: u64,
    /// Time the callee spent on these calls (recursion counted once), and of it in itself.
    pub total_ns: u64,
    pub self_ns: u64,
}

impl Profile {
    /// The run's measured time: the sum of the threads' totals.
    pub fn measured_ns(&self) -> u64 {
        self.threads.iter().map(|t| t.total_ns).sum()
    }

    /// The function a node stands for, None for a root.
    pub fn function_of(&self, node: &Node) -> Option<&Function> {
        node.function.map(|f| &self.functions[f])
    }

    /// Every thread's tree merged into one: nodes with the same path of functions are one.
    /// Returns the merged nodes, the first being the root.
    pub fn merged(&self) -> Vec<Node> {
        let mut out = vec![Node::default()];
        for t in &self.threads {
            self.merge_into(&mut out, 0, t.root);
        }
        out[0].total_ns = out[0].children.iter().map(|&c| out[c].total_ns).sum();
        out
    }

    fn merge_into(&self, out: &mut Vec<Node>, into: usize, from: usize) {
        let n = &self.nodes[from];
        if into != 0 {
            let m = &mut out[into];
            m.calls += n.calls;
            m.total_ns += n.total_ns;
            m.self_ns += n.self_ns;
            m.alloc_bytes += n.alloc_bytes;
            m.allocations += n.allocations;
            m.objects_created += n.objects_created;
        } else {
            out[0].self_ns += n.self_ns;
            out[0].alloc_bytes += n.alloc_bytes;
        }
        for &c in &n.children {
            let f = self.nodes[c].function;
            let existing = out[into].children.iter().copied().find(|&k| out[k].function == f);
            let k = existing.unwrap_or_else(|| {
                let id = out.len();
                out.push(Node {
                    id,
                    parent: Some(into),
                    function: f,
                    ..Node::default()
                });
                out[into].children.push(id);
                id
            });
            self.merge_into(out, k, c);
        }
    }
}
