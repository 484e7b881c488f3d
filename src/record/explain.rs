//! `refscope explain`'s records: one step (a line that ran, the state after it and what changed,
//! as data) and the limits.

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

/// One executed line and the state right after it. An event is a `Change` as the worker logs it,
/// and a sentence once the report has worded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step<E = Change> {
    pub index: u32,
    /// Index into `files`.
    pub file: u32,
    pub line: u32,
    pub source: String,
    pub function: String,
    /// Your frames, outermost first.
    pub frames: Vec<FrameState>,
    pub objects: Vec<Obj>,
    pub events: Vec<E>,
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

/// What is remembered of an object once it is out of the picture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Known {
    pub type_name: String,
    pub value: String,
}

/// What became of the object of a deleted name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Freed during the same line.
    Freed,
    /// These names still have it.
    Named(Vec<String>),
    /// No name has it, but it refers to itself through a cycle.
    InCycle,
    /// No name shown has it, yet something else does.
    Elsewhere,
}

/// Why an object was freed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FreedBy {
    /// Its count reached zero.
    LastReference,
    /// A collection broke the cycle it was on.
    Gc,
}

/// One thing that changed at a step, as data; `ref`s name objects of the step (or, for a freed
/// object, of the step before).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A frame of yours began.
    Call { function: String },
    /// A frame of yours ended.
    Return { function: String },
    /// `name` is bound to an object refscope had not seen, and that CPython did not share.
    Created { name: String, object: u32 },
    /// `name` is bound to the object `others` already have; `was` is its object before, if any.
    Aliased {
        name: String,
        others: Vec<String>,
        object: u32,
        was: Option<Known>,
    },
    /// `name` is bound to an existing object no other name has.
    Bound { name: String, object: u32 },
    /// `name` had another object; `new` when the one it has now was just created.
    Rebound {
        name: String,
        object: u32,
        new: bool,
        was: Option<Known>,
    },
    /// `name` is gone from a frame that goes on.
    Deleted { name: String, object: u32, fate: Fate },
    /// An object shown before now refers to `to` through `label`.
    Referenced { from: u32, label: String, to: u32 },
    /// An object shown before was freed; `names` had it at the step before.
    Freed {
        object: u32,
        known: Option<Known>,
        names: Vec<String>,
        by: FreedBy,
    },
    /// `object` became reachable from itself: `path` leads from it back to it.
    Cycle { object: u32, path: Vec<Edge> },
    /// A collection ran; `shown` of the objects it freed were in the picture.
    Gc {
        generation: u64,
        collected: u64,
        uncollectable: u64,
        shown: u64,
    },
    /// `is` and `==` between two names on the line.
    Compare(Comparison),
}

/// `left is right` and, between built-in values, `left == right`, evaluated before the line ran;
/// `why` says why CPython shares the object when both are one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    pub left: String,
    pub right: String,
    pub left_id: u64,
    pub right_id: u64,
    pub same: bool,
    pub equal: Option<bool>,
    pub why: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_with_every_change_survives_the_capture() {
        let known = || {
            Some(Known {
                type_name: "list".into(),
                value: "[]".into(),
            })
        };
        let events = vec![
            Change::Call { function: "f".into() },
            Change::Return { function: "f".into() },
            Change::Created {
                name: "a".into(),
                object: 1,
            },
            Change::Aliased {
                name: "b".into(),
                others: vec!["a".into()],
                object: 1,
                was: known(),
            },
            Change::Bound {
                name: "c".into(),
                object: 2,
            },
            Change::Rebound {
                name: "c".into(),
                object: 3,
                new: true,
                was: None,
            },
            Change::Deleted {
                name: "a".into(),
                object: 1,
                fate: Fate::Named(vec!["b".into()]),
            },
            Change::Deleted {
                name: "b".into(),
                object: 1,
                fate: Fate::InCycle,
            },
            Change::Referenced {
                from: 1,
                label: "[0]".into(),
                to: 1,
            },
            Change::Freed {
                object: 4,
                known: known(),
                names: vec![],
                by: FreedBy::Gc,
            },
            Change::Cycle {
                object: 1,
                path: vec![Edge {
                    label: "[0]".into(),
                    object: 1,
                }],
            },
            Change::Gc {
                generation: 2,
                collected: 1,
                uncollectable: 0,
                shown: 1,
            },
            Change::Compare(Comparison {
                left: "a".into(),
                right: "b".into(),
                left_id: 1,
                right_id: 1,
                same: true,
                equal: Some(true),
                why: None,
            }),
        ];
        let step = Step {
            index: 1,
            file: 0,
            line: 1,
            source: "b = a".into(),
            function: "<module>".into(),
            frames: vec![],
            objects: vec![],
            events,
            objects_cut: false,
        };
        let line = serde_json::to_string(&step).unwrap();
        assert_eq!(serde_json::from_str::<Step>(&line).unwrap(), step);
    }
}
