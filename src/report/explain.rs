//! `refscope explain`: the step-by-step story of a small program (names, objects, references,
//! frees, cycles, GC runs), its JSON, terminal narrative and HTML step-through page.

use super::sentences;
use super::terminal::{BOLD, DIM, HEAD, WARM};
use super::{Outcome, Program};
use crate::record::explain::{Limits, Obj, Step};
use crate::record::{Capture, Record};
use anstyle::{AnsiColor, Style};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

pub const SCHEMA: &str = "refscope.explain";
pub const SCHEMA_VERSION: u32 = 1;

const NEW: Style = AnsiColor::Green.on_default().bold();
const GONE: Style = AnsiColor::Red.on_default().bold();
const LINK: Style = AnsiColor::Magenta.on_default().bold();

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PythonInfo {
    pub version: String,
    pub executable: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceFile {
    pub path: String,
    pub display: String,
    pub source: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExplainReport {
    pub schema: String,
    pub schema_version: u32,
    pub refscope_version: String,
    pub python: PythonInfo,
    pub program: Program,
    pub outcome: Outcome,
    pub limits: Limits,
    pub files: Vec<SourceFile>,
    pub steps: Vec<Step<Event>>,
}

/// One change at a step, told.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// created, aliased, bound, rebound, deleted, referenced, freed, cycle, gc, call, return, compare.
    pub kind: String,
    pub text: String,
    pub names: Vec<String>,
    pub object: Option<u32>,
}

impl ExplainReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }
}

pub fn build(
    cap: &Capture,
    program: Program,
    outcome: Outcome,
    cwd: &std::path::Path,
    code: Option<&str>,
) -> ExplainReport {
    let mut python = PythonInfo {
        version: String::new(),
        executable: String::new(),
    };
    let mut files: BTreeMap<u32, String> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut limits = Limits {
        max_steps: 0,
        max_objects: 0,
        depth: 0,
        steps_cut: false,
    };
    for r in &cap.records {
        match r {
            Record::Start {
                python: v, executable, ..
            } => {
                python = PythonInfo {
                    version: v.clone(),
                    executable: executable.clone(),
                }
            }
            Record::File { id, path } => {
                files.insert(*id, path.clone());
            }
            Record::Step { step } => steps.push(sentences::tell(step)),
            Record::ExplainLimits { limits: l } => limits = l.clone(),
            _ => {}
        }
    }
    let files = files
        .into_values()
        .map(|path| {
            let text = match code {
                Some(c) if path == "<string>" => Some(c.to_string()),
                _ => super::source::read(&path),
            };
            SourceFile {
                display: std::path::Path::new(&path)
                    .strip_prefix(cwd)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| path.clone()),
                source: text
                    .map(|t| t.lines().map(|l| l.trim_end().to_string()).collect())
                    .unwrap_or_default(),
                path,
            }
        })
        .collect();
    ExplainReport {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        refscope_version: env!("CARGO_PKG_VERSION").into(),
        python,
        program,
        outcome,
        limits,
        files,
        steps,
    }
}

fn describe(o: &Obj) -> String {
    let refs = match o.refcount {
        None if o.immortal => "immortal".to_string(),
        None => "static, never freed".to_string(),
        Some(1) => "1 ref".to_string(),
        Some(n) => format!("{n} refs"),
    };
    format!(
        "{} {DIM}id {} ({}){DIM:#} {} {DIM}· {refs} · {} B{DIM:#}",
        o.type_name, o.id, o.hex, o.value, o.size
    )
}

/// The narrative for the terminal.
pub fn render(r: &ExplainReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{HEAD}refscope explain{HEAD:#} {BOLD}{}{BOLD:#}  ·  {} steps  ·  Python {}",
        r.program.target,
        r.steps.len(),
        r.python.version
    );
    let multi = r.files.len() > 1;
    for s in &r.steps {
        let place = if multi {
            format!(
                "{}:{}",
                r.files.get(s.file as usize).map_or("", |f| f.display.as_str()),
                s.line
            )
        } else {
            format!("line {}", s.line)
        };
        let func = if s.function == "<module>" {
            String::new()
        } else {
            format!(" {DIM}in {}(){DIM:#}", s.function)
        };
        let _ = writeln!(
            o,
            "\n{DIM}step {}{DIM:#} · {BOLD}{place}{BOLD:#}{func}  {}",
            s.index,
            s.source.trim()
        );
        let by_ref: BTreeMap<u32, &Obj> = s.objects.iter().map(|x| (x.reference, x)).collect();
        for e in &s.events {
            let st = match e.kind.as_str() {
                "created" | "call" => NEW,
                "freed" | "deleted" => GONE,
                "aliased" | "cycle" | "compare" => LINK,
                "gc" => WARM,
                _ => Style::new(),
            };
            let _ = writeln!(o, "  {st}{:<8}{st:#} {}", e.kind, e.text);
            if let Some(obj) = e.object.and_then(|r| by_ref.get(&r)) {
                if matches!(e.kind.as_str(), "created" | "aliased" | "bound" | "rebound") {
                    let _ = writeln!(o, "           {}", describe(obj));
                }
            }
        }
        if s.objects_cut {
            let _ = writeln!(
                o,
                "  {WARM}note{WARM:#}     more objects than --max-objects: some are not shown"
            );
        }
    }
    let _ = writeln!(o);
    if r.limits.steps_cut {
        let _ = writeln!(
            o,
            "{WARM}stopped:{WARM:#} {}; what ran until then is shown (--max-steps and --max-objects set the limits).",
            r.outcome.description
        );
    } else if r.outcome.partial {
        let _ = writeln!(
            o,
            "{GONE}PARTIAL{GONE:#} {}; every step until then is shown.",
            r.outcome.description
        );
    } else {
        let _ = writeln!(o, "{DIM}{}.{DIM:#}", r.outcome.description);
    }
    o
}
