//! `refscope explain`'s records: one step (a line that ran and the state after it) and the limits.

use serde::{Deserialize, Serialize};

/// `refscope explain`'s limits, as the worker is asked to keep them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub max_steps: u32,
    pub max_objects: u32,
    pub depth: u32,
}

/// The worker exits with this code when the step cap stops the program.
pub const STEP_CAP_EXIT: i32 = 93;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    pub max_steps: u32,
    pub max_objects: u32,
    pub depth: u32,
    /// True when the program was stopped at `max_steps`.
    pub steps_cut: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    pub index: u32,
    /// Index into `files`.
    pub file: u32,
    pub line: u32,
    pub source: String,
    pub function: String,
    /// Your frames, outermost first.
    pub frames: Vec<FrameState>,
    pub objects: Vec<Obj>,
    pub events: Vec<Event>,
    /// True when the object cap left objects out of this step.
    pub objects_cut: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FrameState {
    pub id: u32,
    pub function: String,
    pub line: u32,
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Binding {
    pub name: String,
    /// The object's `ref`.
    pub object: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Obj {
    /// refscope's number for this object, stable across steps (ids are reused after a free).
    #[serde(rename = "ref")]
    pub reference: u32,
    /// `id(obj)`.
    pub id: u64,
    pub hex: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub value: String,
    /// As CPython counts it, refscope's own references taken out; None for objects CPython never
    /// frees (immortal on 3.12+, statically allocated on 3.11), whose count means nothing.
    pub refcount: Option<i64>,
    pub immortal: bool,
    /// `sys.getsizeof`.
    pub size: u64,
    /// Why CPython hands this one object to several names, when it does so on its own.
    pub shared: Option<String>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Edge {
    pub label: String,
    pub object: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// created, aliased, bound, rebound, deleted, freed, cycle, gc, call, return, compare.
    pub kind: String,
    pub text: String,
    pub names: Vec<String>,
    pub object: Option<u32>,
}
