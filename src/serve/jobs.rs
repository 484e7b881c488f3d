//! One playground run: the request turned into a `refscope COMMAND` command line, run as a fresh
//! guarded process in a temporary directory of its own, and what came of it.

use super::guard::{Guards, Limits};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The file the code is saved as, in the run's directory.
pub const SNIPPET: &str = "snippet.py";
/// After a stop request, how long the command may take to write what it measured.
const GRACE: Duration = Duration::from_secs(3);
const MAX_STATEMENTS: usize = 8;
/// Run directories are `refscope-serve-<server pid>-…` in the temporary directory (and the
/// server's cgroup `refscope-serve-<server pid>`).
pub(super) const DIR_PREFIX: &str = "refscope-serve-";

/// Removes the run directories of servers that were killed before they could.
pub fn sweep() {
    let dead = |name: &str| {
        name.strip_prefix(DIR_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    for e in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
        if e.file_name().to_str().is_some_and(dead) && std::fs::remove_dir_all(e.path()).is_err() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Explain,
    Run,
    Size,
    Bench,
    Profile,
}

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "explain" => Kind::Explain,
            "run" => Kind::Run,
            "size" => Kind::Size,
            "bench" => Kind::Bench,
            "profile" => Kind::Profile,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Explain => "explain",
            Kind::Run => "run",
            Kind::Size => "size",
            Kind::Bench => "bench",
            Kind::Profile => "profile",
        }
    }

    /// Whether the command stops the program at `--timeout` itself and reports what it measured.
    fn times_itself(self) -> bool {
        matches!(self, Kind::Explain | Kind::Run | Kind::Profile)
    }
}

/// A request's body, checked.
#[derive(Debug)]
pub struct Request {
    pub kind: Kind,
    code: String,
    expr: Option<String>,
    statements: Vec<String>,
    max_steps: Option<u32>,
    memory: bool,
}

/// A request that cannot be run: what is wrong and how to fix it.
pub struct BadRequest {
    pub error: String,
    pub hint: String,
}

fn bad(error: impl Into<String>, hint: impl Into<String>) -> BadRequest {
    BadRequest {
        error: error.into(),
        hint: hint.into(),
    }
}

impl Request {
    pub fn parse(kind: Kind, body: &Value) -> Result<Request, BadRequest> {
        let doc = "see docs/serve.md for each command's fields";
        let Some(obj) = body.as_object() else {
            return Err(bad("the body must be a JSON object", doc));
        };
        let allowed: &[&str] = match kind {
            Kind::Explain => &["code", "max_steps"],
            Kind::Run => &["code", "memory"],
            Kind::Size => &["code", "expr"],
            Kind::Bench => &["code", "statements"],
            Kind::Profile => &["code"],
        };
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(
                format!("`{k}` is not a field of /api/{}", kind.name()),
                format!("its fields are {}", allowed.join(", ")),
            ));
        }
        let text = |name: &str, required: bool| -> Result<Option<String>, BadRequest> {
            match obj.get(name) {
                None | Some(Value::Null) if !required => Ok(None),
                None | Some(Value::Null) => Err(bad(format!("`{name}` is missing"), doc)),
                Some(Value::String(s)) if s.contains('\0') => Err(bad(format!("`{name}` holds a NUL character"), doc)),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("`{name}` must be a string"), doc)),
            }
        };
        let code = text("code", true)?.unwrap_or_default();
        let expr = text("expr", kind == Kind::Size)?;
        if expr.as_deref().is_some_and(|e| e.trim().is_empty()) {
            return Err(bad("`expr` is empty", "name the object to measure, e.g. \"xs\""));
        }
        let statements = match obj.get("statements") {
            None if kind != Kind::Bench => vec![],
            Some(Value::Array(a)) if (1..=MAX_STATEMENTS).contains(&a.len()) => {
                let mut out = vec![];
                for s in a {
                    match s.as_str() {
                        Some(s) if !s.trim().is_empty() && !s.contains('\0') => out.push(s.to_string()),
                        _ => return Err(bad("each statement must be a non-empty string", doc)),
                    }
                }
                out
            }
            _ => {
                return Err(bad(
                    format!("`statements` must be a list of 1 to {MAX_STATEMENTS} strings"),
                    "e.g. [\"[x*x for x in xs]\", \"list(map(abs, xs))\"]",
                ))
            }
        };
        let max_steps = match obj.get("max_steps") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Some(n.min(u32::MAX as u64) as u32),
                _ => return Err(bad("`max_steps` must be a positive whole number", doc)),
            },
        };
        let memory = match obj.get("memory") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("`memory` must be true or false", doc)),
        };
        Ok(Request {
            kind,
            code,
            expr,
            statements,
            max_steps,
            memory,
        })
    }

    /// The longest of what size and bench pass as single arguments (Linux caps one at 128 KiB).
    pub fn longest_argument(&self) -> usize {
        let expr = self.expr.as_ref().map_or(0, String::len);
        let stmt = self.statements.iter().map(String::len).max().unwrap_or(0);
        self.code.len().max(expr).max(stmt)
    }

    /// The arguments after `python -m refscope`.
    fn argv(&self, limits: &Limits) -> Vec<String> {
        let mut a: Vec<String> = vec![self.kind.name().into(), "--json".into(), "report.json".into()];
        a.extend(["--html".into(), "report.html".into()]);
        let timeout = format!("{}", limits.time_s);
        match self.kind {
            Kind::Explain => {
                let steps = self.max_steps.unwrap_or(limits.max_steps).min(limits.max_steps);
                a.extend(["-q".into(), "--max-steps".into(), steps.to_string()]);
                a.extend(["--timeout".into(), timeout, SNIPPET.into()]);
            }
            Kind::Run => {
                a.extend(["-q".into(), "--timeout".into(), timeout]);
                if !self.memory {
                    a.push("--no-memory".into());
                }
                a.push(SNIPPET.into());
            }
            Kind::Profile => a.extend(["-q".into(), "--timeout".into(), timeout, SNIPPET.into()]),
            Kind::Size => {
                a.extend(["-q".into(), "-s".into(), self.code.clone()]);
                a.push(self.expr.clone().unwrap_or_default());
            }
            Kind::Bench => {
                // Sampling stops in time to report within the limit (3 s, bench's own default, at most).
                let budget = (limits.time_s * 0.6).min(3.0);
                a.extend(["-q".into(), "--time-budget".into(), format!("{budget}")]);
                a.extend(["-s".into(), self.code.clone()]);
                // A statement may start with `-`: the rest are statements.
                a.push("--".into());
                a.extend(self.statements.iter().cloned());
            }
        }
        a
    }
}

/// Why a guard stopped a run.
#[derive(Clone, Debug, Serialize)]
pub struct Limit {
    pub name: &'static str,
    pub message: String,
}

/// What a run gave: the answer's fields but `html`, which the server files away.
#[derive(Serialize)]
pub struct Outcome {
    pub command: Kind,
    /// The command's JSON document as it wrote it (key order kept).
    pub report: Option<Box<RawValue>>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub exit_code: i32,
    pub limit: Option<Limit>,
    pub wall_ms: u64,
    /// Where the result's page is kept (filled in by the server).
    pub html: Option<String>,
    #[serde(skip)]
    pub page: Option<String>,
}

/// What a stream gave so far: the first `cap` bytes, `over` once there were more, `done` at its end.
#[derive(Default)]
struct Drained {
    kept: Vec<u8>,
    done: bool,
}

/// Reads a stream to its end in a thread of its own, keeping the first `cap` bytes; past them it
/// raises `over`.
fn drain(mut from: impl Read + Send + 'static, cap: usize, over: Arc<AtomicBool>) -> Arc<Mutex<Drained>> {
    let shared = Arc::new(Mutex::new(Drained::default()));
    let to = shared.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut d = to.lock().unwrap_or_else(|e| e.into_inner());
            let room = cap.saturating_sub(d.kept.len());
            d.kept.extend_from_slice(&buf[..n.min(room)]);
            if n > room {
                over.store(true, Ordering::Relaxed);
            }
        }
        to.lock().unwrap_or_else(|e| e.into_inner()).done = true;
    });
    shared
}

/// Runs `req` to its end or to a limit. `stop` asks it to end early (the server is stopping).
pub fn execute(python: &str, req: &Request, limits: &Limits, guards: &Guards, stop: &AtomicBool) -> Outcome {
    let started = Instant::now();
    let failed = |why: String| Outcome {
        command: req.kind,
        report: None,
        stdout: String::new(),
        stderr: why,
        stdout_truncated: false,
        stderr_truncated: false,
        exit_code: 1,
        limit: None,
        wall_ms: started.elapsed().as_millis() as u64,
        html: None,
        page: None,
    };
    let prefix = format!("{DIR_PREFIX}{}-", std::process::id());
    let dir = match tempfile::Builder::new().prefix(&prefix).tempdir() {
        Ok(d) => d,
        Err(e) => return failed(format!("error: cannot make the run's directory: {e}\n")),
    };
    if let Err(e) = std::fs::write(dir.path().join(SNIPPET), &req.code) {
        return failed(format!("error: cannot save the code: {e}\n"));
    }
    let mut cmd = Command::new(python);
    cmd.args(["-m", "refscope"])
        .args(req.argv(limits))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env_remove("PYTHONSTARTUP");
    crate::spawn::die_with_parent(&mut cmd);
    let mut jail = match guards.jail(&mut cmd, limits) {
        Ok(j) => j,
        Err(why) => {
            return failed(format!(
                "error: {why}: the run was not started without its process cap\n"
            ))
        }
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            jail.close();
            return failed(format!("error: cannot start `{python} -m refscope`: {e}\n"));
        }
    };
    jail.started(child.id());
    let (over_out, over_err) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let out = drain(
        child.stdout.take().expect("piped"),
        limits.output_bytes,
        over_out.clone(),
    );
    let err = drain(
        child.stderr.take().expect("piped"),
        limits.output_bytes,
        over_err.clone(),
    );

    // Commands that time themselves get the limit as --timeout and a little more here.
    let deadline =
        Duration::from_secs_f64(limits.time_s) + if req.kind.times_itself() { GRACE } else { Duration::ZERO };
    let mut stopped: Option<(Limit, Instant)> = None;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        let now = Instant::now();
        if let Some((_, at)) = &stopped {
            if now.duration_since(*at) > GRACE {
                jail.kill();
                break child.wait().ok();
            }
        } else {
            let why = if now.duration_since(started) > deadline {
                Some(Limit {
                    name: "time",
                    message: time_message(limits),
                })
            } else if over_out.load(Ordering::Relaxed) || over_err.load(Ordering::Relaxed) {
                Some(Limit {
                    name: "output",
                    message: format!(
                        "stopped: the program wrote more than {} of output, the most one run keeps",
                        crate::report::numbers::fmt_bytes(limits.output_bytes as u64)
                    ),
                })
            } else if stop.load(Ordering::Relaxed) {
                Some(Limit {
                    name: "stopped",
                    message: "stopped: the server is shutting down".into(),
                })
            } else {
                None
            };
            if let Some(why) = why {
                // The command stops its program and writes what it measured.
                // SAFETY: signalling our own child, not reaped yet, has no preconditions.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
                stopped = Some((why, now));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let hit_cap = jail.hit_process_cap();
    jail.close();
    // A process that left the run's session may still hold the pipes: wait for their ends a
    // little only, and keep what came.
    let until = Instant::now() + Duration::from_secs(1);
    let done = |d: &Arc<Mutex<Drained>>| d.lock().unwrap_or_else(|e| e.into_inner()).done;
    while !(done(&out) && done(&err)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let take = |d: &Arc<Mutex<Drained>>| std::mem::take(&mut d.lock().unwrap_or_else(|e| e.into_inner()).kept);
    let (stdout, stderr) = (take(&out), take(&err));
    let exit_code = match status {
        Some(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        None => 1,
    };
    let report: Option<Box<RawValue>> = std::fs::read_to_string(dir.path().join("report.json"))
        .ok()
        .and_then(|t| RawValue::from_string(t).ok());
    let parsed: Option<Value> = report.as_ref().and_then(|r| serde_json::from_str(r.get()).ok());
    let page = std::fs::read_to_string(dir.path().join("report.html")).ok();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let ended = Ended {
        exit: exit_code,
        signal: status.and_then(|s| s.signal()),
        stderr: &stderr,
        report: parsed.as_ref(),
        hit_cap,
        offline: guards.offline(),
    };
    let limit = match stopped {
        Some((l, _)) if l.name == "time" => process_limit(&ended, limits).or(Some(l)),
        Some((l, _)) => Some(l),
        None => limit_of(&ended, limits),
    };
    Outcome {
        command: req.kind,
        report,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
        stdout_truncated: over_out.load(Ordering::Relaxed),
        stderr_truncated: over_err.load(Ordering::Relaxed),
        exit_code,
        limit,
        wall_ms: started.elapsed().as_millis() as u64,
        html: None,
        page,
    }
}

/// How a finished run ended, as `limit_of` reads it.
struct Ended<'a> {
    exit: i32,
    /// The signal that ended refscope's own process (size and bench, which have no worker).
    signal: Option<i32>,
    stderr: &'a str,
    report: Option<&'a Value>,
    hit_cap: bool,
    offline: bool,
}

/// The limit a finished run ran into: from the report's outcome and the signal where there is
/// one; text the program printed counts only as the last line of a failing run's traceback.
fn limit_of(e: &Ended, limits: &Limits) -> Option<Limit> {
    let limit = |name, message: String| Some(Limit { name, message });
    let outcome = e.report.and_then(|r| r.get("outcome"));
    let field = |k: &str| outcome.and_then(|o| o.get(k)).and_then(Value::as_str);
    let signal = field("signal")
        .map(str::to_string)
        .or_else(|| e.signal.map(signal_name));
    let last = e.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    let failed = e.exit != 0;
    // A fork bomb refused a process and then ran out of time: the cap is what it met first.
    if let Some(l) = process_limit(e, limits) {
        return Some(l);
    }
    if field("status") == Some("timeout") {
        return limit("time", time_message(limits));
    }
    match signal.as_deref() {
        Some("SIGXCPU") => {
            return limit(
                "cpu",
                format!("killed after {} s of CPU time, the limit of one process", limits.cpu_s),
            )
        }
        Some("SIGXFSZ") => {
            return limit(
                "file_size",
                format!("killed: it wrote a file past {} MiB, the limit", limits.file_mib),
            )
        }
        _ => {}
    }
    if failed && last.starts_with("MemoryError") {
        return limit(
            "memory",
            format!(
                "ran out of memory: one run may use at most {} MiB of address space",
                limits.memory_mib
            ),
        );
    }
    let no_network = last.contains("[Errno 101] Network is unreachable") || last.starts_with("socket.gaierror");
    if e.offline && failed && no_network {
        return limit("network", "no network: runs of this server start without one".into());
    }
    let cut = e
        .report
        .and_then(|r| r.pointer("/limits/steps_cut"))
        .and_then(Value::as_bool);
    if cut == Some(true) {
        return limit(
            "steps",
            "stopped at the step cap: the report holds the steps until then".into(),
        );
    }
    None
}

/// The process cap, when the run met it: the cgroup counted a refusal, or the run failed on a
/// refused fork.
fn process_limit(e: &Ended, limits: &Limits) -> Option<Limit> {
    let last = e.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    let refused_fork = e.exit != 0 && last.starts_with("BlockingIOError: [Errno 11]") && e.stderr.contains("fork");
    (e.hit_cap || refused_fork).then(|| Limit {
        name: "processes",
        message: format!(
            "refused a new process: one run may have at most {} tasks",
            limits.processes
        ),
    })
}

fn time_message(limits: &Limits) -> String {
    format!("stopped after {} s, the time limit of one run", limits.time_s)
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGXCPU => "SIGXCPU".into(),
        libc::SIGXFSZ => "SIGXFSZ".into(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> Limits {
        Limits {
            time_s: 10.0,
            cpu_s: 21,
            memory_mib: 2048,
            file_mib: 240,
            processes: 64,
            output_bytes: 1 << 20,
            max_steps: 2000,
        }
    }

    #[test]
    fn requests_become_the_commands_own_flags() {
        let r = Request::parse(Kind::Explain, &json!({"code": "x = 1", "max_steps": 1_000_000}))
            .ok()
            .unwrap();
        let a = r.argv(&limits());
        let steps = a.iter().position(|x| x == "--max-steps").unwrap();
        assert_eq!(a[steps + 1], "2000", "the server's cap wins");
        assert_eq!(a.last().unwrap(), SNIPPET);

        let r = Request::parse(Kind::Bench, &json!({"code": "", "statements": ["-x", "y"]}))
            .ok()
            .unwrap();
        let a = r.argv(&limits());
        let dashes = a.iter().position(|x| x == "--").unwrap();
        assert_eq!(
            &a[dashes + 1..],
            ["-x", "y"],
            "a statement starting with - is a statement"
        );

        let r = Request::parse(Kind::Run, &json!({"code": "", "memory": false}))
            .ok()
            .unwrap();
        assert!(r.argv(&limits()).contains(&"--no-memory".to_string()));
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let err = |k, v| Request::parse(k, &v).err().unwrap().error;
        assert!(err(Kind::Run, json!([1])).contains("object"));
        assert!(err(Kind::Run, json!({})).contains("`code` is missing"));
        assert!(err(Kind::Run, json!({"code": 1})).contains("string"));
        assert!(err(Kind::Run, json!({"code": "", "expr": "x"})).contains("`expr` is not a field"));
        assert!(err(Kind::Size, json!({"code": ""})).contains("`expr` is missing"));
        assert!(err(Kind::Size, json!({"code": "", "expr": " "})).contains("empty"));
        assert!(err(Kind::Bench, json!({"code": ""})).contains("statements"));
        assert!(err(Kind::Bench, json!({"code": "", "statements": [""]})).contains("non-empty"));
        assert!(err(Kind::Explain, json!({"code": "", "max_steps": 0})).contains("positive"));
        assert!(err(Kind::Run, json!({"code": "a\u{0}b"})).contains("NUL"));
    }

    #[test]
    fn how_a_run_ended_names_its_limit() {
        let l = limits();
        let name = |exit, signal, stderr: &str, report: Option<Value>, hit_cap| {
            let e = Ended {
                exit,
                signal,
                stderr,
                report: report.as_ref(),
                hit_cap,
                offline: true,
            };
            limit_of(&e, &l).map(|x| x.name)
        };
        let outcome = |status: &str, signal: Option<&str>| json!({"outcome": {"status": status, "signal": signal}});
        assert_eq!(name(124, None, "", Some(outcome("timeout", None)), false), Some("time"));
        assert_eq!(
            name(152, None, "", Some(outcome("signalled", Some("SIGXCPU"))), false),
            Some("cpu")
        );
        assert_eq!(name(-1, Some(libc::SIGXFSZ), "", None, false), Some("file_size"));
        assert_eq!(name(1, None, "Traceback\nMemoryError\n", None, false), Some("memory"));
        assert_eq!(name(1, None, "", None, true), Some("processes"));
        let fork = "  os.fork()\nBlockingIOError: [Errno 11] Resource temporarily unavailable\n";
        assert_eq!(name(1, None, fork, None, false), Some("processes"));
        assert_eq!(
            name(124, None, fork, Some(outcome("timeout", None)), false),
            Some("processes")
        );
        assert_eq!(
            name(124, None, "", Some(outcome("timeout", None)), true),
            Some("processes")
        );
        let net = "OSError: [Errno 101] Network is unreachable\n";
        assert_eq!(name(1, None, net, None, false), Some("network"));
        let dns = "socket.gaierror: [Errno -3] Temporary failure in name resolution\n";
        assert_eq!(name(1, None, dns, None, false), Some("network"));
        assert_eq!(
            name(0, None, "", Some(json!({"limits": {"steps_cut": true}})), false),
            Some("steps")
        );
        // What a program prints, or how it chooses to exit, is not a limit.
        assert_eq!(name(0, None, "MemoryError\n", None, false), None);
        assert_eq!(name(124, None, "", Some(outcome("exited", None)), false), None);
        assert_eq!(name(152, None, "SIGXCPU\n", Some(outcome("exited", None)), false), None);
        assert_eq!(name(1, None, "BlockingIOError: [Errno 11] pipe\n", None, false), None);
        assert_eq!(name(1, None, "ValueError: no\n", None, false), None);
    }
}
