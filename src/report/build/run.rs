//! Capture → the run report: joins the worker's records with its counters, converts ticks to time and
//! describes how the program ended.

use super::memory;
use crate::clock::Calibration;
use crate::record::{
    Capture, Child, Ended, Origin, Record, Sample, FLAG_FINISHED, FLAG_TRUNCATED, SLOT_WORDS, W_HITS, W_SELF, W_TICKS,
};
use crate::report::run::*;
use std::collections::BTreeMap;
use std::path::Path;

/// What the launcher knows about a run besides its capture.
pub struct Run<'a> {
    pub program: Program,
    pub ended: Ended,
    pub calibration: Calibration,
    /// Launcher clock reading after the worker ended, for runs the worker did not close.
    pub end_ticks: u64,
    pub wall_ns: u64,
    pub cwd: &'a Path,
    /// A program's text with no file to read it from (`-c` code, a script read from a FIFO):
    /// (the name it ran under, relative to `cwd`; the text).
    pub held: Option<(&'a str, &'a str)>,
    /// Heap and RSS sampled by the launcher.
    pub timeline: &'a [Sample],
    /// The program's child processes that were measured.
    pub children: &'a [Child],
}

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

pub(super) fn display(path: &str, cwd: &Path) -> String {
    Path::new(path)
        .strip_prefix(cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// What the log says about slots: the interpreter, file paths, which slot is which line, and
/// the code objects.
pub(super) struct Index<'c> {
    pub(super) python: Python,
    files: BTreeMap<u32, String>,
    lines: BTreeMap<u32, (u32, u32)>,
    codes: Vec<&'c Record>,
}

impl<'c> Index<'c> {
    pub(super) fn of(cap: &'c Capture) -> Index<'c> {
        let mut ix = Index {
            python: Python {
                version: String::new(),
                executable: String::new(),
                tracer: String::new(),
                clock: String::new(),
            },
            files: BTreeMap::new(),
            lines: BTreeMap::new(),
            codes: Vec::new(),
        };
        for r in &cap.records {
            match r {
                Record::Start {
                    python,
                    executable,
                    tracer,
                    clock,
                    ..
                } => {
                    ix.python = Python {
                        version: python.clone(),
                        executable: executable.clone(),
                        tracer: tracer.clone(),
                        clock: clock.clone(),
                    };
                }
                Record::File { id, path } => {
                    ix.files.insert(*id, path.clone());
                }
                Record::Line { slot, file, line } => {
                    ix.lines.insert(*slot, (*file, *line));
                }
                Record::Code { .. } => ix.codes.push(r),
                _ => {}
            }
        }
        ix
    }

    fn file(&self, id: u32, cwd: &Path) -> String {
        self.files.get(&id).map(|p| display(p, cwd)).unwrap_or_default()
    }
}

/// Line `line` (1-based) of a file's source; empty for line 0, which an empty module reports on
/// 3.11+.
fn source_line(source: &[String], line: u32) -> String {
    (line as usize)
        .checked_sub(1)
        .and_then(|i| source.get(i))
        .cloned()
        .unwrap_or_default()
}

fn counter(cap: &Capture, slot: u32) -> [u64; SLOT_WORDS] {
    cap.counters.get(slot as usize).copied().unwrap_or([0; SLOT_WORDS])
}

/// Every line that ran or allocated, per file, with the file's source; and the line events.
fn files(cap: &Capture, run: &Run, ix: &Index) -> (Vec<FileReport>, u64) {
    let mut per_file: BTreeMap<u32, Vec<Line>> = BTreeMap::new();
    let mut line_events = 0;
    for (slot, (file, line)) in &ix.lines {
        let c = counter(cap, *slot);
        let (hits, ticks, own) = (c[W_HITS], c[W_TICKS], c[W_SELF]);
        let memory = crate::report::memory::LineMemory::from_counters(&c);
        line_events += hits;
        if (hits > 0 || ticks > 0 || !memory.is_empty()) && ix.files.contains_key(file) {
            per_file.entry(*file).or_default().push(Line {
                line: *line,
                hits,
                time_ns: run.calibration.ns(ticks),
                self_ns: run.calibration.ns(own),
                source: String::new(),
                memory,
                processes: 1,
            });
        }
    }
    let reports = per_file
        .into_iter()
        .map(|(id, mut ls)| {
            let path = ix.files.get(&id).cloned().unwrap_or_default();
            let text = match run.held {
                Some((name, text)) if path == name || Path::new(&path) == run.cwd.join(name) => Some(text.to_string()),
                _ => crate::report::source::read(&path),
            };
            let source: Vec<String> = text
                .map(|t| t.lines().map(|l| l.trim_end().to_string()).collect())
                .unwrap_or_default();
            ls.sort_by_key(|l| l.line);
            for l in &mut ls {
                l.source = source_line(&source, l.line);
            }
            FileReport {
                display: display(&path, run.cwd),
                path,
                lines: ls,
                source,
            }
        })
        .collect();
    (reports, line_events)
}

/// Every function that was called, by total time.
fn functions(cap: &Capture, run: &Run, ix: &Index) -> Vec<Function> {
    let mut functions: Vec<Function> = ix
        .codes
        .iter()
        .filter_map(|r| match r {
            Record::Code {
                slot,
                file,
                name,
                qualname,
                line,
            } => {
                let c = counter(cap, *slot);
                let (calls, ticks, own) = (c[W_HITS], c[W_TICKS], c[W_SELF]);
                (calls > 0 || ticks > 0).then(|| Function {
                    name: name.clone(),
                    qualname: qualname.clone(),
                    file: ix.file(*file, run.cwd),
                    line: *line,
                    calls,
                    total_ns: run.calibration.ns(ticks),
                    self_ns: run.calibration.ns(own),
                })
            }
            _ => None,
        })
        .collect();
    functions.sort_by(|a, b| {
        b.total_ns
            .cmp(&a.total_ns)
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    functions
}

/// Time from the program's start to its end, by the worker's clock when it has both.
pub(super) fn wall_ns(cap: &Capture, run: &Run) -> u64 {
    let end = if cap.end_ticks > 0 {
        cap.end_ticks
    } else {
        run.end_ticks
    };
    if cap.start_ticks > 0 && end > cap.start_ticks {
        run.calibration.ns(end - cap.start_ticks)
    } else {
        run.wall_ns
    }
}

/// How the program ended, in words, and whether the figures are partial.
pub(super) fn outcome(cap: &Capture, run: &Run, ix: &Index, wall_ns: u64, last_line: Option<Location>) -> Outcome {
    let finished = cap.flags & FLAG_FINISHED != 0;
    let secs = wall_ns as f64 / 1e9;
    let (status, exit_code, signal, partial, description) = match run.ended {
        _ if !cap.started => (
            "not_started",
            None,
            None,
            true,
            "the worker ended before the program started".to_string(),
        ),
        Ended::Exited(c) if finished => (
            "exited",
            Some(c),
            None,
            false,
            format!("the program exited with code {c}"),
        ),
        Ended::Exited(c) => (
            "exited",
            Some(c),
            None,
            true,
            format!("the program ended abruptly with code {c} (os._exit or a fatal error) after {secs:.3} s"),
        ),
        Ended::Signalled(s) => (
            "signalled",
            None,
            Some(signal_name(s)),
            !finished,
            format!("the program was killed by {} after {secs:.3} s", signal_name(s)),
        ),
        Ended::TimedOut(t) => (
            "timeout",
            None,
            Some("SIGKILL".to_string()),
            true,
            format!("the program ran past the {t} s timeout and was stopped"),
        ),
    };
    let unmeasured = unmeasured(cap, run, ix);
    Outcome {
        status: status.to_string(),
        exit_code,
        signal,
        partial: partial || unmeasured.is_some(),
        unmeasured,
        truncated: cap.flags & FLAG_TRUNCATED != 0,
        description,
        last_line,
    }
}

/// From where refscope stopped measuring a process, and why, if it did.
fn unmeasured(cap: &Capture, run: &Run, ix: &Index) -> Option<Unmeasured> {
    cap.records.iter().find_map(|r| match r {
        Record::Lost { slot, reason } => Some(Unmeasured {
            after: ix.lines.get(slot).map(|(f, l)| Location {
                file: ix.file(*f, run.cwd),
                line: *l,
            }),
            reason: reason.clone(),
        }),
        _ => None,
    })
}

/// The capture's own process: (pid, parent, origin).
fn whose(cap: &Capture) -> (u32, u32, Origin) {
    cap.records
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::Process { pid, ppid, origin } => Some((*pid, *ppid, *origin)),
            _ => None,
        })
        .unwrap_or((0, 0, Origin::Main))
}

/// A child process on its own.
fn child(c: &Child, run: &Run) -> (Process, crate::report::memory::LineMemory) {
    let cap = &c.capture;
    let ix = Index::of(cap);
    let (files, line_events) = files(cap, run, &ix);
    let (_, ppid, origin) = whose(cap);
    let finished = cap.flags & FLAG_FINISHED != 0;
    let description = if finished {
        "ended normally".to_string()
    } else if c.stopped {
        "stopped with the program at its timeout".to_string()
    } else if c.running {
        "still running when the program ended; figures up to then".to_string()
    } else {
        "ended without finishing (killed by a signal or crashed, as a pool's terminate() ends its workers); \
figures up to its last line"
            .to_string()
    };
    let last_line = cap.last_line.and_then(|s| ix.lines.get(&s)).map(|(f, l)| Location {
        file: ix.file(*f, run.cwd),
        line: *l,
    });
    let process = Process {
        pid: c.pid,
        ppid,
        origin: origin.name().to_string(),
        finished,
        description,
        last_line,
        unmeasured: unmeasured(cap, run, &ix),
        wall_ns: wall_ns(cap, run),
        line_events,
        peak_bytes: cap.mem.on.then_some(cap.mem.peak),
        functions: functions(cap, run, &ix),
        files,
    };
    (process, super::memory::total(cap))
}

/// The main process's entry of `processes`.
fn main_process(r: &Report, cap: &Capture) -> Process {
    let (pid, ppid, _) = whose(cap);
    Process {
        pid,
        ppid,
        origin: Origin::Main.name().to_string(),
        finished: !r.outcome.partial,
        description: r.outcome.description.clone(),
        last_line: r.outcome.last_line.clone(),
        unmeasured: r.outcome.unmeasured.clone(),
        wall_ns: r.wall_ns,
        line_events: r.line_events,
        peak_bytes: r.memory.as_ref().map(|m| m.peak.as_ref().map_or(0, |p| p.bytes)),
        files: r.files.clone(),
        functions: r.functions.clone(),
    }
}

/// Adds a child's figures to the report's: lines by file and line, functions by file, line and
/// name, memory totals.
fn merge(r: &mut Report, p: &Process, memory: &crate::report::memory::LineMemory) {
    for f in &p.files {
        let Some(into) = r.files.iter_mut().find(|g| g.path == f.path) else {
            r.files.push(f.clone());
            continue;
        };
        for l in &f.lines {
            match into.lines.binary_search_by_key(&l.line, |m| m.line) {
                Ok(i) => {
                    let m = &mut into.lines[i];
                    m.hits += l.hits;
                    m.time_ns += l.time_ns;
                    m.self_ns += l.self_ns;
                    m.memory.add(&l.memory);
                    m.processes += 1;
                }
                Err(i) => into.lines.insert(i, l.clone()),
            }
        }
    }
    for f in &p.functions {
        match r
            .functions
            .iter_mut()
            .find(|g| g.file == f.file && g.line == f.line && g.qualname == f.qualname)
        {
            Some(g) => {
                g.calls += f.calls;
                g.total_ns += f.total_ns;
                g.self_ns += f.self_ns;
            }
            None => r.functions.push(f.clone()),
        }
    }
    r.functions.sort_by(|a, b| {
        b.total_ns
            .cmp(&a.total_ns)
            .then(a.file.cmp(&b.file))
            .then(a.line.cmp(&b.line))
    });
    r.line_events += p.line_events;
    if let Some(m) = &mut r.memory {
        m.total.add(memory);
    }
}

pub fn run(cap: &Capture, run: &Run) -> Report {
    let mut r = main(cap, run);
    r.processes.push(main_process(&r, cap));
    for c in run.children {
        let (p, memory) = child(c, run);
        merge(&mut r, &p, &memory);
        r.processes.push(p);
    }
    r
}

fn main(cap: &Capture, run: &Run) -> Report {
    let ix = Index::of(cap);
    let (file_reports, line_events) = files(cap, run, &ix);
    let functions = functions(cap, run, &ix);
    let wall_ns = wall_ns(cap, run);
    let last_line = cap.last_line.and_then(|s| ix.lines.get(&s)).map(|(f, l)| Location {
        file: ix.file(*f, run.cwd),
        line: *l,
    });
    let outcome = outcome(cap, run, &ix, wall_ns, last_line);
    let location = |slot: u32| {
        let (f, l) = ix.lines.get(&slot)?;
        let rep = file_reports.iter().find(|r| Some(&r.path) == ix.files.get(f))?;
        Some((
            Location {
                file: rep.display.clone(),
                line: *l,
            },
            source_line(&rep.source, *l),
        ))
    };
    let function = |slot: u32| {
        ix.codes.iter().find_map(|r| match r {
            Record::Code {
                slot: s,
                file,
                qualname,
                line,
                ..
            } if *s == slot => Some((qualname.clone(), ix.file(*file, run.cwd), *line)),
            _ => None,
        })
    };
    let ns = |ticks: u64| run.calibration.ns(ticks);
    let counters = |slot: u32| counter(cap, slot).to_vec();
    let memory = memory::build(
        cap,
        run.timeline,
        &memory::Names {
            location: &location,
            function: &function,
            ns: &ns,
            counters: &counters,
        },
        outcome.partial,
    );
    Report {
        schema: SCHEMA.to_string(),
        schema_version: SCHEMA_VERSION,
        refscope_version: env!("CARGO_PKG_VERSION").to_string(),
        python: ix.python,
        program: run.program.clone(),
        outcome,
        wall_ns,
        line_events,
        files: file_reports,
        functions,
        memory,
        processes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Render;

    fn capture(flags: u32) -> Capture {
        Capture {
            records: vec![
                Record::Start {
                    python: "3.12.1".into(),
                    executable: "py".into(),
                    tracer: "t".into(),
                    clock: "tsc".into(),
                },
                Record::File {
                    id: 0,
                    path: "/w/a.py".into(),
                },
                Record::Code {
                    slot: 0,
                    file: 0,
                    name: "<module>".into(),
                    qualname: "<module>".into(),
                    line: 1,
                },
                Record::Line {
                    slot: 1,
                    file: 0,
                    line: 1,
                },
                Record::Line {
                    slot: 2,
                    file: 0,
                    line: 2,
                },
                Record::Line {
                    slot: 3,
                    file: 0,
                    line: 3,
                },
            ],
            counters: [[1, 2000, 600], [1, 500, 500], [3, 1500, 100], [0, 0, 0]]
                .iter()
                .map(|c| std::array::from_fn(|i| c.get(i).copied().unwrap_or(0)))
                .collect(),
            mem: Default::default(),
            flags,
            last_line: Some(2),
            start_ticks: 100,
            end_ticks: if flags & FLAG_FINISHED != 0 { 2100 } else { 0 },
            started: true,
        }
    }

    fn context(ended: Ended) -> Run<'static> {
        Run {
            program: Program {
                kind: "script".into(),
                target: "a.py".into(),
                argv: vec![],
            },
            ended,
            calibration: Calibration { ns_per_tick: 0.5 },
            end_ticks: 4100,
            wall_ns: 9,
            cwd: Path::new("/w"),
            held: None,
            timeline: &[],
            children: &[],
        }
    }

    #[test]
    fn joins_records_with_counters_and_converts_ticks() {
        let r = run(&capture(FLAG_FINISHED), &context(Ended::Exited(0)));
        assert_eq!(r.wall_ns, 1000);
        assert_eq!(r.line_events, 4);
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files[0].display, "a.py");
        let rows: Vec<_> = r.files[0]
            .lines
            .iter()
            .map(|l| (l.line, l.hits, l.time_ns, l.self_ns))
            .collect();
        assert_eq!(
            rows,
            vec![(1, 1, 250, 250), (2, 3, 750, 50)],
            "lines that never ran are left out"
        );
        assert_eq!(
            (r.functions[0].calls, r.functions[0].total_ns, r.functions[0].self_ns),
            (1, 1000, 300)
        );
        assert!(!r.outcome.partial);
    }

    #[test]
    fn unfinished_runs_are_partial_and_say_where_they_were() {
        let r = run(&capture(0), &context(Ended::Signalled(libc::SIGSEGV)));
        assert!(r.outcome.partial);
        assert_eq!(r.outcome.signal.as_deref(), Some("SIGSEGV"));
        assert_eq!(r.wall_ns, 2000, "ends at the launcher's clock");
        assert_eq!(
            r.outcome.last_line,
            Some(Location {
                file: "a.py".into(),
                line: 2
            })
        );
        let t = run(&capture(0), &context(Ended::TimedOut(1.5)));
        assert_eq!(t.outcome.status, "timeout");
        let x = run(&capture(0), &context(Ended::Exited(3)));
        assert!(x.outcome.partial && x.outcome.exit_code == Some(3));
    }

    #[test]
    fn a_child_s_lines_and_functions_add_to_the_main_process_s() {
        let mut kid = capture(0);
        kid.records.push(Record::Process {
            pid: 7,
            ppid: 1,
            origin: Origin::Fork,
        });
        // The child ran line 2 twice and line 3 once, which the main process never ran.
        kid.counters = [[0, 400, 0], [0, 0, 0], [2, 100, 100], [1, 50, 50]]
            .iter()
            .map(|c| std::array::from_fn(|i| c.get(i).copied().unwrap_or(0)))
            .collect();
        let children = [Child {
            pid: 7,
            capture: kid,
            running: false,
            stopped: false,
        }];
        let mut ctx = context(Ended::Exited(0));
        ctx.children = &children;
        let r = run(&capture(FLAG_FINISHED), &ctx);
        let rows: Vec<_> = r.files[0]
            .lines
            .iter()
            .map(|l| (l.line, l.hits, l.time_ns, l.processes))
            .collect();
        assert_eq!(rows, vec![(1, 1, 250, 1), (2, 5, 800, 2), (3, 1, 25, 1)]);
        assert_eq!(r.line_events, 4 + 3);
        assert_eq!((r.functions[0].calls, r.functions[0].total_ns), (1, 1200));
        let p: Vec<_> = r
            .processes
            .iter()
            .map(|p| (p.pid, p.origin.as_str(), p.finished))
            .collect();
        assert_eq!(p, vec![(0, "main", true), (7, "fork", false)]);
        assert!(r.processes[1].description.contains("without finishing"));
        assert_eq!(
            r.processes[1].files[0].lines.len(),
            2,
            "each process keeps its own lines"
        );
        assert!(
            !r.outcome.partial,
            "a child that did not finish leaves the main process's outcome alone"
        );
    }

    #[test]
    fn json_snapshot() {
        insta::assert_snapshot!(crate::report::Json.render(&crate::report::run::sample::report(false)));
    }
}
