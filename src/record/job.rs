//! What a launcher asks of a worker process: the program to run and how to measure it.

use serde::{Deserialize, Serialize};

/// The environment variable that names the descriptor a worker reads its `Job` from (`spawn`).
pub const ENV: &str = "REFSCOPE_WORKER";

/// The environment variable that carries a `ChildJob` to the program's Python children, where
/// `refscope.pth` finds it.
pub const CHILD_ENV: &str = "REFSCOPE_CHILD";

/// Imports nothing into `__main__` but `sys`, which the worker removes again.
pub const BOOTSTRAP: &str = "import sys; del sys.path[0]; __import__('refscope._refscope', fromlist=['_'])._worker()";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A source file; `source` holds its text when it could be read only once (a FIFO,
    /// `/dev/fd/N` from a shell's `<(…)`).
    Script {
        path: String,
        #[serde(default)]
        source: Option<String>,
    },
    /// A directory or zip file with a `__main__.py`, run as python runs it.
    MainPath {
        path: String,
    },
    Module {
        name: String,
    },
    Code {
        code: String,
    },
}

impl Target {
    /// The file or directory the program is, if it is one (no output may be written there).
    pub fn path(&self) -> Option<&str> {
        match self {
            Target::Script { path, .. } | Target::MainPath { path } => Some(path),
            _ => None,
        }
    }

    /// The program's text where refscope holds it (no file to read it from again): (the name
    /// it runs under, relative to the cwd, its text).
    pub fn held_source(&self) -> Option<(String, String)> {
        match self {
            Target::Code { code } => Some(("<string>".into(), code.clone())),
            Target::Script {
                path,
                source: Some(text),
            } => Some((path.clone(), text.clone())),
            _ => None,
        }
    }

    /// `script`, `module` or `code`, as reports name the kind of program.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Script { .. } | Target::MainPath { .. } => "script",
            Target::Module { .. } => "module",
            Target::Code { .. } => "code",
        }
    }
}

/// What one worker runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub capture: String,
    pub target: Target,
    pub args: Vec<String>,
    pub cwd: String,
    pub include: Vec<String>,
    pub all: bool,
    /// `refscope heap`: take a census at a line (or at exit).
    #[serde(default)]
    pub heap: Option<HeapPlan>,
    /// Charge allocations, frees and GC runs to lines.
    #[serde(default)]
    pub memory: bool,
    /// `refscope explain`: a step tracer instead of the time tracer.
    #[serde(default)]
    pub explain: Option<super::explain::Plan>,
    /// `refscope profile`: a call-tree profiler instead of the line tracer.
    #[serde(default)]
    pub profile: bool,
    /// Measure the program's child processes too, each in a capture of its own next to this one.
    #[serde(default)]
    pub subprocesses: bool,
}

/// What a new interpreter started by the program needs to measure itself as the worker would.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildJob {
    /// The run directory, where each process writes `<pid>.capture`.
    pub dir: String,
    pub cwd: String,
    /// The directories whose files are the user's, as the worker found them.
    pub roots: Vec<String>,
    pub include: Vec<String>,
    pub all: bool,
    pub memory: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeapPlan {
    /// (absolute path, line): census just before that line first runs; None: at exit.
    pub at: Option<(String, u32)>,
    pub top: usize,
}
