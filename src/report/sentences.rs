//! `refscope explain`'s events in words: the worker logs each step's changes as data, and these
//! are the sentences the JSON, the terminal narrative and the HTML page all show.

use super::explain::Event;
use crate::record::explain::{Change, Comparison, Edge, Fate, FreedBy, Known, Obj, Step};

/// The step with its changes told.
pub fn tell(step: &Step) -> Step<Event> {
    let names: Vec<(u32, &str)> = step
        .frames
        .iter()
        .flat_map(|f| f.bindings.iter().map(|b| (b.object, b.name.as_str())))
        .collect();
    let picture = Picture {
        objects: &step.objects,
        names: &names,
    };
    Step {
        index: step.index,
        file: step.file,
        line: step.line,
        source: step.source.clone(),
        function: step.function.clone(),
        frames: step.frames.clone(),
        objects: step.objects.clone(),
        events: step.events.iter().map(|c| picture.event(c)).collect(),
        objects_cut: step.objects_cut,
    }
}

/// What a step shows, to word its changes with.
struct Picture<'a> {
    objects: &'a [Obj],
    /// (ref, name) of every name, outermost frame first.
    names: &'a [(u32, &'a str)],
}

impl Picture<'_> {
    fn obj(&self, r: u32) -> Option<&Obj> {
        self.objects.iter().find(|o| o.reference == r)
    }

    /// `type value` of a shown object.
    fn what(&self, r: u32) -> String {
        self.obj(r)
            .map(|o| format!("{} {}", o.type_name, o.value))
            .unwrap_or_default()
    }

    /// The names of an object, or its type and address when it has none.
    fn label(&self, r: u32) -> String {
        let names: Vec<&str> = self.names.iter().filter(|n| n.0 == r).map(|n| n.1).collect();
        if names.is_empty() {
            self.obj(r)
                .map(|o| format!("{} {}", o.type_name, o.hex))
                .unwrap_or_default()
        } else {
            names.join("/")
        }
    }

    fn event(&self, change: &Change) -> Event {
        let (kind, text, names, object) = match change {
            Change::Call { function } => (
                "call",
                format!("{function}() is called: a new frame with its own names"),
                vec![],
                None,
            ),
            Change::Return { function } => (
                "return",
                format!("{function}() returned: its frame and its names are gone"),
                vec![],
                None,
            ),
            Change::Created { name, object } => (
                "created",
                self.bound(name, *object, true, None),
                vec![name.clone()],
                Some(*object),
            ),
            Change::Bound { name, object } => (
                "bound",
                self.bound(name, *object, false, None),
                vec![name.clone()],
                Some(*object),
            ),
            Change::Rebound { name, object, new, was } => (
                "rebound",
                self.bound(name, *object, *new, was.as_ref()),
                vec![name.clone()],
                Some(*object),
            ),
            Change::Aliased {
                name,
                others,
                object,
                was,
            } => {
                let mut names = vec![name.clone()];
                names.extend(others.iter().cloned());
                (
                    "aliased",
                    self.aliased(name, others, *object, was.as_ref()),
                    names,
                    Some(*object),
                )
            }
            Change::Deleted { name, object, fate } => {
                ("deleted", deleted(name, fate), vec![name.clone()], Some(*object))
            }
            Change::Referenced { from, label, to } => {
                ("referenced", self.referenced(*from, label, *to), vec![], Some(*to))
            }
            Change::Freed {
                object,
                known,
                names,
                by,
            } => ("freed", freed(known.as_ref(), names, *by), names.clone(), Some(*object)),
            Change::Cycle { object, path } => ("cycle", self.cycle(*object, path), vec![], Some(*object)),
            Change::Gc {
                generation,
                collected,
                uncollectable,
                shown,
            } => ("gc", gc(*generation, *collected, *uncollectable, *shown), vec![], None),
            Change::Compare(c) => ("compare", compare(c), vec![c.left.clone(), c.right.clone()], None),
        };
        Event {
            kind: kind.into(),
            text,
            names,
            object,
        }
    }

    /// `list 0x… → [0] dict → ['k'] → itself`: the first object, then each hop and what it reaches.
    fn cycle(&self, start: u32, path: &[Edge]) -> String {
        let first = self.obj(start);
        let mut hops: Vec<String> = path
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e.label,
                    self.obj(e.object).map_or("", |o| o.type_name.as_str())
                )
            })
            .collect();
        // The last hop is back to the first object: "itself".
        if let (Some(last), Some(e)) = (hops.last_mut(), path.last()) {
            *last = e.label.clone();
        }
        format!(
            "cycle formed: {} {} → {} → itself: reference counting alone will never free it; the GC will",
            first.map_or("", |o| o.type_name.as_str()),
            first.map_or("", |o| o.hex.as_str()),
            hops.join(" → ")
        )
    }

    /// `x → [new] type value (was …)`, and why the object is an existing one when CPython shares it.
    fn bound(&self, name: &str, r: u32, new: bool, was: Option<&Known>) -> String {
        let new = if new { "new " } else { "" };
        let mut text = format!("{name} → {new}{}{}", self.what(r), was_text(was));
        if let Some(s) = self.obj(r).and_then(|o| o.shared.as_deref()) {
            text.push_str(&format!(" (an existing object: {})", s.split(':').next().unwrap_or(s)));
        }
        text
    }

    fn aliased(&self, name: &str, others: &[String], r: u32, was: Option<&Known>) -> String {
        let mut text = format!(
            "{name} is {}: one object, {} names{}",
            others.join(", "),
            others.len() + 1,
            was_text(was)
        );
        if let Some(s) = self.obj(r).and_then(|o| o.shared.as_deref()) {
            text.push_str(&format!(" — why one object: {s}"));
        }
        text
    }

    fn referenced(&self, from: u32, label: &str, to: u32) -> String {
        let (type_name, refs) = self.obj(to).map_or(("", String::new()), |t| {
            let refs = t.refcount.map(|n| format!(" (now {n} references)")).unwrap_or_default();
            (t.type_name.as_str(), refs)
        });
        format!("{}{label} → {type_name} {}{refs}", self.label(from), self.label(to))
    }
}

fn was_text(was: Option<&Known>) -> String {
    was.map(|k| format!(" (was {} {})", k.type_name, k.value))
        .unwrap_or_default()
}

fn deleted(name: &str, fate: &Fate) -> String {
    let rest = match fate {
        Fate::Freed => String::new(),
        Fate::Named(others) => format!(" (the object lives on: {} still names it)", others.join(", ")),
        Fate::InCycle => " (the object lives on: it refers to itself through a cycle)".to_string(),
        Fate::Elsewhere => " (the object is still referenced elsewhere)".to_string(),
    };
    format!("name {name} removed{rest}")
}

fn freed(known: Option<&Known>, names: &[String], by: FreedBy) -> String {
    let what = known
        .map(|k| format!("{} {}", k.type_name, k.value))
        .unwrap_or_else(|| "an object".into());
    let was = if names.is_empty() {
        String::new()
    } else {
        format!(" (was {})", names.join(", "))
    };
    let why = match by {
        FreedBy::Gc => "collected by the GC as part of a cycle",
        FreedBy::LastReference => "its last reference went away at this line",
    };
    format!("{what}{was} freed: {why}")
}

fn gc(generation: u64, collected: u64, uncollectable: u64, shown: u64) -> String {
    let uncollectable = if uncollectable > 0 {
        format!(", {uncollectable} uncollectable")
    } else {
        String::new()
    };
    let shown = if shown > 0 {
        format!(", {shown} of them shown here")
    } else {
        String::new()
    };
    format!("the GC ran (generation {generation}): {collected} objects collected{uncollectable}{shown}")
}

fn compare(c: &Comparison) -> String {
    let (l, r, left_id, right_id) = (&c.left, &c.right, c.left_id, c.right_id);
    let ids = format!("ids {left_id} and {right_id}");
    match (c.same, c.equal) {
        (true, _) => {
            let why = c.why.as_ref().map(|s| format!(" — {s}")).unwrap_or_default();
            format!("{l} is {r} → True: both names refer to one object (id {left_id}){why}")
        }
        (false, Some(true)) => {
            format!("{l} == {r} → True but {l} is {r} → False: equal values in two different objects ({ids})")
        }
        (false, Some(false)) => {
            format!("{l} is {r} → False and {l} == {r} → False: two different objects with different values ({ids})")
        }
        (false, None) => format!(
            "{l} is {r} → False: two different objects ({ids}); == not evaluated (a class's __eq__ could run code)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::explain::{Binding, FrameState};

    fn obj(r: u32, type_name: &str, value: &str, shared: Option<&str>) -> Obj {
        Obj {
            reference: r,
            id: 4096 + u64::from(r),
            hex: format!("{:#x}", 4096 + r),
            type_name: type_name.into(),
            value: value.into(),
            refcount: Some(2),
            immortal: false,
            size: 56,
            shared: shared.map(String::from),
            edges: vec![],
        }
    }

    fn told(names: &[(&str, u32)], objects: Vec<Obj>, events: Vec<Change>) -> Vec<(String, String)> {
        let step = Step {
            index: 1,
            file: 0,
            line: 1,
            source: String::new(),
            function: "<module>".into(),
            frames: vec![FrameState {
                id: 1,
                function: "<module>".into(),
                line: 1,
                bindings: names
                    .iter()
                    .map(|(n, r)| Binding {
                        name: (*n).into(),
                        object: *r,
                    })
                    .collect(),
            }],
            objects,
            events,
            objects_cut: false,
        };
        tell(&step).events.into_iter().map(|e| (e.kind, e.text)).collect()
    }

    fn pair(kind: &str, text: &str) -> (String, String) {
        (kind.into(), text.into())
    }

    #[test]
    fn names_and_their_objects() {
        let small = "small-int cache: CPython keeps one object for each int from -5 to 256";
        let events = vec![
            Change::Created {
                name: "a".into(),
                object: 1,
            },
            Change::Aliased {
                name: "b".into(),
                others: vec!["a".into()],
                object: 1,
                was: None,
            },
            Change::Rebound {
                name: "c".into(),
                object: 2,
                new: false,
                was: Some(Known {
                    type_name: "str".into(),
                    value: "'x'".into(),
                }),
            },
        ];
        let objects = vec![obj(1, "list", "[1, 2]", None), obj(2, "int", "5", Some(small))];
        assert_eq!(
            told(&[("a", 1), ("b", 1), ("c", 2)], objects, events),
            vec![
                pair("created", "a → new list [1, 2]"),
                pair("aliased", "b is a: one object, 2 names"),
                pair(
                    "rebound",
                    "c → int 5 (was str 'x') (an existing object: small-int cache)"
                ),
            ]
        );
    }

    #[test]
    fn deletions_frees_cycles_and_collections() {
        let events = vec![
            Change::Deleted {
                name: "a".into(),
                object: 1,
                fate: Fate::Named(vec!["b".into()]),
            },
            Change::Referenced {
                from: 1,
                label: "[0]".into(),
                to: 1,
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
                collected: 4,
                uncollectable: 0,
                shown: 1,
            },
            Change::Freed {
                object: 3,
                known: None,
                names: vec!["x".into()],
                by: FreedBy::Gc,
            },
        ];
        assert_eq!(
            told(&[("b", 1)], vec![obj(1, "list", "[[…]]", None)], events),
            vec![
                pair("deleted", "name a removed (the object lives on: b still names it)"),
                pair("referenced", "b[0] → list b (now 2 references)"),
                pair(
                    "cycle",
                    "cycle formed: list 0x1001 → [0] → itself: reference counting alone will never free it; the GC will"
                ),
                pair("gc", "the GC ran (generation 2): 4 objects collected, 1 of them shown here"),
                pair("freed", "an object (was x) freed: collected by the GC as part of a cycle"),
            ]
        );
    }

    #[test]
    fn comparisons() {
        let cmp = |same, equal| {
            Change::Compare(Comparison {
                left: "a".into(),
                right: "c".into(),
                left_id: 10,
                right_id: 20,
                same,
                equal,
                why: None,
            })
        };
        assert_eq!(
            told(&[], vec![], vec![cmp(false, Some(true)), cmp(false, None)]),
            vec![
                pair(
                    "compare",
                    "a == c → True but a is c → False: equal values in two different objects (ids 10 and 20)"
                ),
                pair(
                    "compare",
                    "a is c → False: two different objects (ids 10 and 20); == not evaluated (a class's __eq__ could run code)"
                ),
            ]
        );
    }
}
