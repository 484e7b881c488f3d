//! What changed from one step to the next, from plain states alone: names created, aliased,
//! bound, rebound or deleted, references added, objects freed (and why), cycles formed, GC runs,
//! frames begun and ended. The snapshot reads the interpreter; this module never does.

use crate::record::explain::{Change, Edge, Fate, FrameState, FreedBy, Known, Obj};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

/// One step's picture, as the snapshot took it.
#[derive(Debug, Default)]
pub struct State {
    /// Your frames, outermost first, each with its names.
    pub frames: Vec<FrameState>,
    pub objects: Vec<Obj>,
    /// Refs given out at this step: objects not seen before.
    pub fresh: FxHashSet<u32>,
    /// True when the object cap left objects out.
    pub objects_cut: bool,
}

/// What happened while the line ran, besides the state it left.
#[derive(Debug, Default)]
pub struct Meanwhile {
    /// Refs of shown objects freed outside a collection, in order.
    pub freed: Vec<u32>,
    pub gc_runs: Vec<GcRun>,
    /// The line calls `collect(`: its collections are told even when they free nothing shown.
    pub collect_called: bool,
}

#[derive(Debug, Default)]
pub struct GcRun {
    pub generation: u64,
    pub collected: u64,
    pub uncollectable: u64,
    /// Refs of the shown objects it freed.
    pub freed: Vec<u32>,
}

/// (frame id, name, ref): one name of one frame and its object.
type Name = (u32, String, u32);

/// What the diff keeps of the step before.
#[derive(Default)]
pub struct Diff {
    started: bool,
    names: Vec<Name>,
    /// (id, function) of the frames.
    frames: Vec<(u32, String)>,
    cycles: FxHashSet<u32>,
    edges: FxHashSet<(u32, String, u32)>,
    /// Every object seen so far, as last seen.
    known: FxHashMap<u32, Known>,
}

impl Diff {
    /// The changes from the step before to `now`, in the order they are told.
    pub fn step(&mut self, now: &State, meanwhile: &Meanwhile) -> Vec<Change> {
        for o in &now.objects {
            self.known.insert(
                o.reference,
                Known {
                    type_name: o.type_name.clone(),
                    value: o.value.clone(),
                },
            );
        }
        let names: Vec<Name> = now
            .frames
            .iter()
            .flat_map(|f| f.bindings.iter().map(move |b| (f.id, b.name.clone(), b.object)))
            .collect();
        let mut out = Vec::new();
        self.frames_changed(now, &mut out);
        self.names_bound(now, &names, &mut out);
        self.names_deleted(now, &names, meanwhile, &mut out);
        self.frees(meanwhile, &mut out);
        let edges = edges(&now.objects);
        self.references_added(now, &edges, &mut out);
        let cycles = cycle_members(&now.objects);
        self.cycles_formed(now, &cycles, &mut out);

        self.started = true;
        self.names = names;
        self.frames = now.frames.iter().map(|f| (f.id, f.function.clone())).collect();
        self.cycles = cycles;
        self.edges = edges;
        out
    }

    fn frames_changed(&self, now: &State, out: &mut Vec<Change>) {
        let outermost = now.frames.first().map(|f| f.id);
        for f in &now.frames {
            // The first step shows the module's frame as it is; any frame under it was called.
            let called = if self.started {
                !self.frames.iter().any(|(id, _)| *id == f.id)
            } else {
                Some(f.id) != outermost
            };
            if called {
                out.push(Change::Call {
                    function: f.function.clone(),
                });
            }
        }
        for (id, function) in &self.frames {
            if !now.frames.iter().any(|f| f.id == *id) {
                out.push(Change::Return {
                    function: function.clone(),
                });
            }
        }
    }

    fn names_bound(&self, now: &State, names: &[Name], out: &mut Vec<Change>) {
        let had = |(f, n, r): &Name| self.names.iter().any(|(pf, pn, pr)| pf == f && pn == n && pr == r);
        for (i, (f, name, r)) in names.iter().enumerate() {
            let before = self.names.iter().find(|(pf, pn, _)| pf == f && pn == name).map(|x| x.2);
            if before == Some(*r) {
                continue;
            }
            // Names that already had this object: bound before this step, or earlier on this line.
            let others: Vec<String> = names
                .iter()
                .enumerate()
                .filter(|(j, c)| c.2 == *r && *j != i && (had(c) || *j < i))
                .map(|(_, c)| c.1.clone())
                .collect();
            let was = before.and_then(|b| self.known.get(&b)).cloned();
            let shared = now.objects.iter().any(|o| o.reference == *r && o.shared.is_some());
            let new = now.fresh.contains(r) && !shared;
            let (name, object) = (name.clone(), *r);
            out.push(if !others.is_empty() {
                Change::Aliased {
                    name,
                    others,
                    object,
                    was,
                }
            } else if before.is_some() {
                Change::Rebound { name, object, new, was }
            } else if new {
                Change::Created { name, object }
            } else {
                Change::Bound { name, object }
            });
        }
    }

    fn names_deleted(&self, now: &State, names: &[Name], meanwhile: &Meanwhile, out: &mut Vec<Change>) {
        let freed: FxHashSet<u32> = meanwhile
            .freed
            .iter()
            .chain(meanwhile.gc_runs.iter().flat_map(|g| g.freed.iter()))
            .copied()
            .collect();
        for (f, name, r) in &self.names {
            // A frame that ended takes its names with it: that is its `return`, not a deletion.
            let frame_goes_on = now.frames.iter().any(|fr| fr.id == *f);
            if !frame_goes_on || names.iter().any(|(cf, cn, _)| cf == f && cn == name) {
                continue;
            }
            let others: Vec<String> = names.iter().filter(|c| c.2 == *r).map(|c| c.1.clone()).collect();
            let fate = if freed.contains(r) {
                Fate::Freed
            } else if !others.is_empty() {
                Fate::Named(others)
            } else if self.cycles.contains(r) {
                Fate::InCycle
            } else {
                Fate::Elsewhere
            };
            out.push(Change::Deleted {
                name: name.clone(),
                object: *r,
                fate,
            });
        }
    }

    fn frees(&self, meanwhile: &Meanwhile, out: &mut Vec<Change>) {
        for &r in &meanwhile.freed {
            out.push(self.freed(r, FreedBy::LastReference));
        }
        for run in &meanwhile.gc_runs {
            // Automatic collections that free nothing in the picture are left out.
            if run.freed.is_empty() && !meanwhile.collect_called {
                continue;
            }
            out.push(Change::Gc {
                generation: run.generation,
                collected: run.collected,
                uncollectable: run.uncollectable,
                shown: run.freed.len() as u64,
            });
            for &r in &run.freed {
                out.push(self.freed(r, FreedBy::Gc));
            }
        }
    }

    fn freed(&self, object: u32, by: FreedBy) -> Change {
        Change::Freed {
            object,
            known: self.known.get(&object).cloned(),
            names: self
                .names
                .iter()
                .filter(|p| p.2 == object)
                .map(|p| p.1.clone())
                .collect(),
            by,
        }
    }

    fn references_added(&self, now: &State, edges: &FxHashSet<(u32, String, u32)>, out: &mut Vec<Change>) {
        for (from, label, to) in edges {
            // A new object's references are part of its creation.
            if self.edges.contains(&(*from, label.clone(), *to)) || now.fresh.contains(from) {
                continue;
            }
            if now.objects.iter().any(|o| o.reference == *to) {
                out.push(Change::Referenced {
                    from: *from,
                    label: label.clone(),
                    to: *to,
                });
            }
        }
    }

    fn cycles_formed(&self, now: &State, cycles: &FxHashSet<u32>, out: &mut Vec<Change>) {
        let mut told: FxHashSet<u32> = FxHashSet::default();
        for o in &now.objects {
            let r = o.reference;
            if !cycles.contains(&r) || self.cycles.contains(&r) || told.contains(&r) {
                continue;
            }
            if let Some(path) = cycle_path(&now.objects, r) {
                told.extend(path.iter().map(|e| e.object));
                out.push(Change::Cycle { object: r, path });
            }
        }
    }
}

fn edges(objects: &[Obj]) -> FxHashSet<(u32, String, u32)> {
    objects
        .iter()
        .flat_map(|o| o.edges.iter().map(move |e| (o.reference, e.label.clone(), e.object)))
        .collect()
}

/// Objects on a cycle among the drawn references (a strongly connected part, or a self-loop).
fn cycle_members(objects: &[Obj]) -> FxHashSet<u32> {
    let at: FxHashMap<u32, usize> = objects.iter().enumerate().map(|(i, o)| (o.reference, i)).collect();
    let mut out = FxHashSet::default();
    for (i, o) in objects.iter().enumerate() {
        // Reachable from o's children back to o?
        let mut seen = vec![false; objects.len()];
        let mut stack: Vec<usize> = o.edges.iter().filter_map(|e| at.get(&e.object).copied()).collect();
        while let Some(j) = stack.pop() {
            if j == i {
                out.insert(o.reference);
                break;
            }
            if std::mem::replace(&mut seen[j], true) {
                continue;
            }
            stack.extend(objects[j].edges.iter().filter_map(|e| at.get(&e.object).copied()));
        }
    }
    out
}

/// The shortest way from `start` back to itself, breadth first: each hop's label and the object
/// it reaches, the last one `start`.
fn cycle_path(objects: &[Obj], start: u32) -> Option<Vec<Edge>> {
    let at: FxHashMap<u32, usize> = objects.iter().enumerate().map(|(i, o)| (o.reference, i)).collect();
    let mut prev: FxHashMap<u32, (u32, String)> = FxHashMap::default();
    let mut queue = VecDeque::from([start]);
    let mut seen = FxHashSet::default();
    while let Some(r) = queue.pop_front() {
        let o = &objects[*at.get(&r)?];
        for e in &o.edges {
            if e.object == start {
                let mut path = vec![e.clone()];
                let mut cur = r;
                while cur != start {
                    let (p, label) = prev.get(&cur)?.clone();
                    path.push(Edge { label, object: cur });
                    cur = p;
                }
                path.reverse();
                return Some(path);
            }
            if at.contains_key(&e.object) && seen.insert(e.object) {
                prev.insert(e.object, (r, e.label.clone()));
                queue.push_back(e.object);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::explain::Binding;

    fn obj(r: u32, type_name: &str, value: &str, edges: &[(&str, u32)]) -> Obj {
        Obj {
            reference: r,
            id: 0x1000 + u64::from(r),
            hex: format!("{:#x}", 0x1000 + r),
            type_name: type_name.into(),
            value: value.into(),
            refcount: Some(1),
            immortal: false,
            size: 56,
            shared: None,
            edges: edges
                .iter()
                .map(|(label, object)| Edge {
                    label: (*label).into(),
                    object: *object,
                })
                .collect(),
        }
    }

    fn frame(id: u32, function: &str, names: &[(&str, u32)]) -> FrameState {
        FrameState {
            id,
            function: function.into(),
            line: 1,
            bindings: names
                .iter()
                .map(|(name, object)| Binding {
                    name: (*name).into(),
                    object: *object,
                })
                .collect(),
        }
    }

    fn module(names: &[(&str, u32)], objects: Vec<Obj>, fresh: &[u32]) -> State {
        State {
            frames: vec![frame(1, "<module>", names)],
            objects,
            fresh: fresh.iter().copied().collect(),
            objects_cut: false,
        }
    }

    fn list(r: u32) -> Obj {
        obj(r, "list", "[1, 2]", &[])
    }

    fn known(type_name: &str, value: &str) -> Option<Known> {
        Some(Known {
            type_name: type_name.into(),
            value: value.into(),
        })
    }

    fn quiet() -> Meanwhile {
        Meanwhile::default()
    }

    #[test]
    fn a_second_name_for_one_object_is_an_alias() {
        let mut d = Diff::default();
        let a = d.step(&module(&[("a", 1)], vec![list(1)], &[1]), &quiet());
        assert_eq!(
            a,
            vec![Change::Created {
                name: "a".into(),
                object: 1
            }]
        );
        let b = d.step(&module(&[("a", 1), ("b", 1)], vec![list(1)], &[]), &quiet());
        assert_eq!(
            b,
            vec![Change::Aliased {
                name: "b".into(),
                others: vec!["a".into()],
                object: 1,
                was: None
            }]
        );
        assert!(d
            .step(&module(&[("a", 1), ("b", 1)], vec![list(1)], &[]), &quiet())
            .is_empty());
    }

    #[test]
    fn two_names_bound_on_one_line_alias_the_first() {
        let mut d = Diff::default();
        let c = d.step(&module(&[("a", 1), ("b", 1)], vec![list(1)], &[1]), &quiet());
        assert_eq!(c.len(), 2);
        assert!(matches!(&c[0], Change::Created { name, .. } if name == "a"));
        assert!(matches!(&c[1], Change::Aliased { name, others, .. } if name == "b" && others == &["a"]));
    }

    #[test]
    fn rebinding_says_what_the_name_had() {
        let mut d = Diff::default();
        d.step(&module(&[("a", 1)], vec![list(1)], &[1]), &quiet());
        let new = d.step(&module(&[("a", 2)], vec![obj(2, "list", "[3]", &[])], &[2]), &quiet());
        assert_eq!(
            new[0],
            Change::Rebound {
                name: "a".into(),
                object: 2,
                new: true,
                was: known("list", "[1, 2]")
            }
        );
        // A small int CPython shares is an existing object, never a new one.
        let mut five = obj(3, "int", "5", &[]);
        five.shared = Some("small-int cache: …".into());
        let shared = d.step(&module(&[("a", 3)], vec![five], &[3]), &quiet());
        assert_eq!(
            shared[0],
            Change::Rebound {
                name: "a".into(),
                object: 3,
                new: false,
                was: known("list", "[3]")
            }
        );
    }

    #[test]
    fn an_existing_object_is_bound_not_created() {
        let mut d = Diff::default();
        d.step(&module(&[], vec![], &[]), &quiet());
        let c = d.step(&module(&[("x", 7)], vec![obj(7, "list", "[]", &[])], &[]), &quiet());
        assert_eq!(
            c,
            vec![Change::Bound {
                name: "x".into(),
                object: 7
            }]
        );
    }

    #[test]
    fn del_of_an_alias_leaves_the_object_and_del_of_the_last_name_frees_it() {
        let mut d = Diff::default();
        d.step(&module(&[("a", 1), ("b", 1)], vec![list(1)], &[1]), &quiet());
        let del_a = d.step(&module(&[("b", 1)], vec![list(1)], &[]), &quiet());
        assert_eq!(
            del_a,
            vec![Change::Deleted {
                name: "a".into(),
                object: 1,
                fate: Fate::Named(vec!["b".into()])
            }]
        );
        let freed = Meanwhile {
            freed: vec![1],
            ..Meanwhile::default()
        };
        let del_b = d.step(&module(&[], vec![], &[]), &freed);
        assert_eq!(
            del_b,
            vec![
                Change::Deleted {
                    name: "b".into(),
                    object: 1,
                    fate: Fate::Freed
                },
                Change::Freed {
                    object: 1,
                    known: known("list", "[1, 2]"),
                    names: vec!["b".into()],
                    by: FreedBy::LastReference
                },
            ]
        );
    }

    #[test]
    fn del_of_a_name_whose_object_lives_on_elsewhere() {
        let mut d = Diff::default();
        d.step(&module(&[("a", 1)], vec![list(1)], &[1]), &quiet());
        let c = d.step(&module(&[], vec![], &[]), &quiet());
        assert_eq!(
            c,
            vec![Change::Deleted {
                name: "a".into(),
                object: 1,
                fate: Fate::Elsewhere
            }]
        );
    }

    #[test]
    fn a_cycle_is_told_once_and_keeps_its_object_alive_after_del() {
        let mut d = Diff::default();
        d.step(&module(&[("a", 1)], vec![obj(1, "list", "[]", &[])], &[1]), &quiet());
        let selfref = || obj(1, "list", "[[…]]", &[("[0]", 1)]);
        let formed = d.step(&module(&[("a", 1)], vec![selfref()], &[]), &quiet());
        assert_eq!(
            formed,
            vec![
                Change::Referenced {
                    from: 1,
                    label: "[0]".into(),
                    to: 1
                },
                Change::Cycle {
                    object: 1,
                    path: vec![Edge {
                        label: "[0]".into(),
                        object: 1
                    }]
                },
            ]
        );
        assert!(d.step(&module(&[("a", 1)], vec![selfref()], &[]), &quiet()).is_empty());
        let del = d.step(&module(&[], vec![], &[]), &quiet());
        assert_eq!(
            del,
            vec![Change::Deleted {
                name: "a".into(),
                object: 1,
                fate: Fate::InCycle
            }]
        );
    }

    #[test]
    fn a_cycle_through_two_objects_is_one_event_with_its_path() {
        let mut d = Diff::default();
        let objects = vec![
            obj(1, "Node", "<Node object>", &[(".n", 2)]),
            obj(2, "Node", "<Node object>", &[(".n", 1)]),
        ];
        let c = d.step(&module(&[("p", 1)], objects, &[1, 2]), &quiet());
        let cycles: Vec<&Change> = c.iter().filter(|e| matches!(e, Change::Cycle { .. })).collect();
        assert_eq!(
            cycles,
            vec![&Change::Cycle {
                object: 1,
                path: vec![
                    Edge {
                        label: ".n".into(),
                        object: 2
                    },
                    Edge {
                        label: ".n".into(),
                        object: 1
                    }
                ]
            }]
        );
        assert!(
            !c.iter().any(|e| matches!(e, Change::Referenced { .. })),
            "a new object's references are its creation"
        );
    }

    #[test]
    fn a_gc_run_tells_what_it_freed_and_a_silent_one_is_left_out() {
        let mut d = Diff::default();
        let objects = vec![obj(1, "list", "[[…]]", &[("[0]", 1)])];
        d.step(&module(&[("a", 1)], objects.clone(), &[1]), &quiet());
        d.step(&module(&[], vec![], &[]), &quiet());
        let run = |freed: Vec<u32>| GcRun {
            generation: 2,
            collected: 3,
            uncollectable: 0,
            freed,
        };
        let silent = Meanwhile {
            gc_runs: vec![run(vec![])],
            ..Meanwhile::default()
        };
        assert!(d.step(&module(&[], vec![], &[]), &silent).is_empty());
        let asked = Meanwhile {
            gc_runs: vec![run(vec![])],
            collect_called: true,
            ..Meanwhile::default()
        };
        assert_eq!(
            d.step(&module(&[], vec![], &[]), &asked),
            vec![Change::Gc {
                generation: 2,
                collected: 3,
                uncollectable: 0,
                shown: 0
            }]
        );
        let freeing = Meanwhile {
            gc_runs: vec![run(vec![1])],
            ..Meanwhile::default()
        };
        assert_eq!(
            d.step(&module(&[], vec![], &[]), &freeing),
            vec![
                Change::Gc {
                    generation: 2,
                    collected: 3,
                    uncollectable: 0,
                    shown: 1
                },
                Change::Freed {
                    object: 1,
                    known: known("list", "[[…]]"),
                    names: vec![],
                    by: FreedBy::Gc
                },
            ]
        );
    }

    #[test]
    fn frames_begin_and_end() {
        let mut d = Diff::default();
        d.step(&module(&[], vec![], &[]), &quiet());
        let two = State {
            frames: vec![frame(1, "<module>", &[]), frame(2, "f", &[("n", 1)])],
            objects: vec![obj(1, "int", "1000", &[])],
            fresh: [1].into_iter().collect(),
            objects_cut: false,
        };
        let called = d.step(&two, &quiet());
        assert_eq!(called[0], Change::Call { function: "f".into() });
        assert!(matches!(&called[1], Change::Created { name, .. } if name == "n"));
        // The frame's names go with it: a return, not deletions.
        let back = d.step(&module(&[], vec![], &[]), &quiet());
        assert_eq!(back, vec![Change::Return { function: "f".into() }]);
    }

    #[test]
    fn the_first_step_calls_only_frames_under_the_outermost() {
        let mut d = Diff::default();
        let s = State {
            frames: vec![frame(1, "<module>", &[]), frame(2, "main", &[])],
            ..State::default()
        };
        assert_eq!(
            d.step(&s, &quiet()),
            vec![Change::Call {
                function: "main".into()
            }]
        );
    }
}
