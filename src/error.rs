//! refscope's errors: what the user did wrong (exit 1, one line and a hint) or what went wrong
//! inside refscope (exit 2, asks for a bug report). The only place errors become exit codes.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{0}` does not exist")]
    NoSuchFile(PathBuf),
    #[error("`{0}` is a directory, not a Python file")]
    IsDirectory(PathBuf),
    #[error("`{0}` cannot be read: {1}")]
    Unreadable(PathBuf, String),
    #[error("`{0}` is a binary file, not Python source")]
    Binary(PathBuf),
    #[error("`{0}` is not valid UTF-8 text (byte {1})")]
    NotUtf8(PathBuf, usize),
    #[error("`{path}` has a syntax error:\n{detail}")]
    Syntax { path: String, detail: String },
    #[error("no module named `{0}`")]
    NoModule(String),
    #[error("cannot write `{0}`: {1}")]
    Unwritable(PathBuf, String),
    #[error("refusing to write a report to `{0}`: it is `{1}`, which the run reads")]
    OutputIsInput(PathBuf, String),
    #[error("`{0}` is given for two outputs of the same run")]
    OutputTwice(PathBuf),
    #[error("bad --include pattern `{0}`: {1}")]
    BadPattern(String, String),
    #[error("--timeout must be a positive number of seconds up to 1e9, not `{0}`")]
    BadTimeout(f64),
    #[error("{0}")]
    Usage(String),
    #[error("--flamegraph-by alloc needs --memory: allocations are charged to calls only with it")]
    AllocNeedsMemory,
    #[error("`{0}` is not a `refscope run --json` report: {1}")]
    NotRunReport(PathBuf, String),
    #[error("the argument `{0}` is not valid UTF-8 text")]
    ArgNotUtf8(String),
    #[error("no census was taken: the program never reached {at} ({how})")]
    NeverReached { at: String, how: String },
    #[error("the {what} has a syntax error:\n{detail}")]
    CodeSyntax { what: String, detail: String },
    #[error("the {what} failed:\n{detail}")]
    Code { what: String, detail: String },
    #[error("statement {label} (`{stmt}`) raised {error}")]
    BenchStatement { label: String, stmt: String, error: String },
    #[error("the benchmark's worker process ended before its samples were taken ({0})")]
    BenchEnded(String),
    #[error(
        "no sample finished within the time budget ({0} s): one run of the statements takes longer, or never ends"
    )]
    BenchNoSample(f64),
    #[error("cannot listen on {addr}: {why}")]
    Bind {
        addr: String,
        kind: std::io::ErrorKind,
        why: String,
    },
    #[error("interrupted")]
    Interrupted,
    #[error("the setup raised {0}")]
    BenchSetup(String),
    #[error("{what} has a syntax error:\n{detail}")]
    BenchSyntax { what: String, detail: String },
    #[error("no room for refscope's capture file: /dev/shm and {tmp} each have less than {need_mib} MiB free")]
    NoRoom { need_mib: u64, tmp: String },
    #[error("the memory limit leaves no room for refscope's capture ({0} MiB of address space beside the program's)")]
    MemoryLimit(u64),
    #[error("the current directory no longer exists")]
    NoCwd,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The fix, for the Python API (no command).
    pub fn hint(&self) -> Option<String> {
        self.hint_for(None)
    }

    /// The fix, naming `command` (`run`, `profile`, …) where it says what to type.
    pub fn hint_for(&self, command: Option<&str>) -> Option<String> {
        // Commands that take `-m MODULE`.
        let runs = command.filter(|c| matches!(*c, "run" | "heap" | "profile"));
        Some(match self {
            Error::NoSuchFile(_) => match runs {
                Some(c) => format!("check the path, or run a module with `refscope {c} -m NAME`"),
                None => "check the path".into(),
            },
            Error::IsDirectory(p) => format!(
                "a directory runs when it holds a `__main__.py`; or run a file inside it, e.g. `refscope {} {}/main.py`{}",
                command.unwrap_or("run"),
                p.display(),
                if runs.is_some() { ", or a package with `-m`" } else { "" }
            ),
            Error::Binary(_) | Error::NotUtf8(..) => {
                "refscope runs Python source files; save the file as UTF-8 or declare its encoding (PEP 263)".into()
            }
            Error::Syntax { .. } => "fix the line above; `python FILE` reports the same error".into(),
            Error::NoModule(_) => "check the name and that its package is importable from the current directory".into(),
            Error::Unwritable(..) => "choose a path in a directory that exists and that you can write to".into(),
            Error::OutputIsInput(..) => "give the report a path of its own, e.g. `--json report.json`".into(),
            Error::OutputTwice(_) => "give each output a path of its own".into(),
            Error::Bind { kind, .. } => match kind {
                std::io::ErrorKind::AddrInUse => "another program listens on that port: `--port 0` picks a free one".into(),
                std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges: use one above, e.g. `--port 8000`".into(),
                _ => "listen on an address of this machine, e.g. `--host 127.0.0.1`".into(),
            },
            Error::BadPattern(..) => "use a directory, a file, or a glob such as `src/**/*.py`".into(),
            Error::BenchStatement { .. } | Error::BenchSetup(_) => {
                "names a statement uses must be defined by --setup (-s), which runs once per sample".into()
            }
            Error::BenchNoSample(_) => {
                "give it more time with --time-budget SECONDS, or time a single run with --number 1 --repeat 3".into()
            }
            Error::BenchEnded(_) => {
                "a statement or the setup ended the process (os._exit, a crash, a signal); time what it does before that".into()
            }
            Error::BenchSyntax { .. } => {
                "quote each statement as one argument; use `;` or newlines between lines".into()
            }
            Error::CodeSyntax { .. } => "quote it as one argument, e.g. `refscope size 'd[\"k\"]'`; python reports the same error for it".into(),
            Error::Code { .. } => "names the expression uses must be defined by --setup (-s)".into(),
            Error::NeverReached { .. } => "give a line that runs (not blank, not a comment, not only `else:`), or leave out --at for a census at exit".into(),
            Error::Usage(_) => match command {
                Some(c) => format!("see `refscope {c} --help`"),
                None => "see the function's help(): `help(refscope)`".into(),
            },
            Error::BadTimeout(_) => "for example `--timeout 30`".into(),
            Error::AllocNeedsMemory => "add --memory, e.g. `refscope profile --memory --flamegraph-by alloc --flamegraph mem.svg app.py`".into(),
            Error::NotRunReport(..) => {
                "make one with `refscope run --json run.json SCRIPT`, then pass it to --lines-from".into()
            }
            Error::ArgNotUtf8(_) => "refscope passes the program's arguments as text; rename the file or give the value as UTF-8".into(),
            Error::NoRoom { .. } => "free some space there, or point TMPDIR at a directory with room".into(),
            Error::MemoryLimit(_) => "raise the limit (`ulimit -v`) by that much, or run without one".into(),
            Error::NoCwd => "change to a directory that exists (`cd ~`) and run again".into(),
            Error::Internal(_) => "this is a bug in refscope; please report it with the command you ran".into(),
            _ => return None,
        })
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Internal(_) => 2,
            Error::Interrupted => 130,
            _ => 1,
        }
    }
}

/// The one place errors become Python exceptions: the user's mistakes are ValueError.
impl From<Error> for pyo3::PyErr {
    fn from(e: Error) -> pyo3::PyErr {
        let text = match e.hint() {
            Some(h) => format!("{e}\nhint: {h}"),
            None => e.to_string(),
        };
        match e {
            Error::Internal(_) => pyo3::exceptions::PyRuntimeError::new_err(text),
            Error::Interrupted => pyo3::exceptions::PyKeyboardInterrupt::new_err(text),
            _ => pyo3::exceptions::PyValueError::new_err(text),
        }
    }
}

/// An exception as Python itself prints it at the end of a traceback (`SyntaxError` with its
/// caret lines), for errors about the user's own code.
pub fn python_text(py: pyo3::Python<'_>, e: &pyo3::PyErr) -> String {
    use pyo3::types::PyAnyMethods;
    py.import("traceback")
        .and_then(|tb| tb.call_method1("format_exception_only", (e.get_type(py), e.value(py))))
        .and_then(|l| l.extract::<Vec<String>>())
        .map(|l| l.concat().trim_end().to_string())
        .unwrap_or_else(|_| e.to_string())
}
