//! Starts a worker process on the same interpreter, waits for it (with an optional timeout) and
//! reads back its capture, and those of the program's child processes, whatever way they ended.

use crate::capture::{self, alive, Reader, RunDir};
use crate::clock::{self, Calibration};
use crate::error::Error;
use crate::record::job::{Job, BOOTSTRAP, CHILD_ENV};
use crate::record::{Capture, Child, Ended};
use crate::spawn::{die_with_parent, Handoff, Signals};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Finished {
    pub capture: Capture,
    pub ended: Ended,
    pub calibration: Calibration,
    /// Launcher-side clock readings (ticks) around the run, for runs the worker never closed.
    pub end_ticks: u64,
    pub wall_ns: u64,
    /// Heap and resident memory through the run, sampled from outside the worker.
    pub timeline: Vec<crate::record::Sample>,
    /// The program's child processes that refscope measured, in the order they started.
    pub children: Vec<Child>,
}

/// How long children may take to finish once the program's main process has ended (a pool's
/// workers, a forkserver reading its end of a pipe).
const CHILD_GRACE: Duration = Duration::from_secs(3);

/// Every living process below `root` in the process tree.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// Reads every child's capture in `dir`, waiting up to CHILD_GRACE for those still running to
/// finish; after a timeout, those still running are stopped with the program.
fn children(dir: &std::path::Path, timed_out: bool) -> Vec<Child> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let pid = name.strip_suffix(".capture")?.parse().ok()?;
            Some((pid, e.path()))
        })
        .collect();
    let map = |path: &PathBuf| {
        let f = std::fs::File::open(path).ok()?;
        // SAFETY: a read-only mapping of a file only this user's processes write; a child still
        // writing changes counters under us, which reads as its figures up to that moment.
        unsafe { memmap2::Mmap::map(&f) }.ok()
    };
    let finished = |path: &PathBuf| {
        map(path).is_none_or(|m| {
            m.len() < capture::FILE_SIZE
                // SAFETY: long enough for the header, which is plain data at the start of the page.
                || unsafe { &*(m.as_ptr() as *const capture::Header) }
                    .flags
                    .load(std::sync::atomic::Ordering::Acquire)
                    & crate::record::FLAG_FINISHED
                    != 0
        })
    };
    let until = Instant::now() + if timed_out { Duration::ZERO } else { CHILD_GRACE };
    while Instant::now() < until && found.iter().any(|(pid, p)| alive(*pid) && !finished(p)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = Vec::new();
    for (pid, path) in found.drain(..) {
        let running = alive(pid);
        if running && timed_out {
            // SAFETY: signalling a process has no memory-safety preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        // After a timeout, a child that had not finished was stopped with the program (most
        // already with the process tree, before this read).
        let stopped = timed_out && !finished(&path);
        let Some(bytes) = map(&path) else { continue };
        let capture = Reader::parse(&bytes);
        // A fork that ran another program (or never reached Python's fork handler) measured nothing.
        let own = capture.records.iter().rev().find_map(|r| match r {
            crate::record::Record::Process { pid, .. } => Some(*pid),
            _ => None,
        }) == Some(pid);
        if capture.started && own {
            out.push(Child {
                pid,
                capture,
                running: running && !timed_out,
                stopped,
            });
        }
    }
    out.sort_by_key(|c| (c.capture.start_ticks, c.pid));
    out
}

/// A signal that asks refscope to stop (SIGTERM, SIGHUP), received while the worker ran.
/// Runs `job` (its capture and cwd are filled in here) in a worker on `python`.
pub fn run(python: &str, mut job: Job, timeout: Option<f64>) -> Result<Finished, Error> {
    let dir = RunDir::new()?;
    let (path, file) = dir.capture("main")?;
    let cwd = std::env::current_dir().map_err(|_| Error::NoCwd)?;
    // SAFETY: the launcher only reads the mapping; the worker writes it through its own.
    let live = unsafe { memmap2::Mmap::map(&file) }.map_err(capture::map_error)?;
    // SAFETY: the mapping is FILE_SIZE bytes, page aligned, and starts with the header.
    let header = unsafe { &*(live.as_ptr() as *const capture::Header) };
    job.capture = path.display().to_string();
    job.cwd = cwd.display().to_string();

    let kind = clock::kind();
    let a = (clock::ticks(), clock::monotonic_ns());
    let started = Instant::now();
    let mut cmd = Command::new(python);
    // The worker starts in the run directory and moves to the program's: modules the interpreter
    // imports before the bootstrap runs (3.13's linecache for `-c`) cannot come from the user's.
    cmd.current_dir(dir.path())
        .arg("-c")
        .arg(BOOTSTRAP)
        .env_remove(CHILD_ENV);
    let handoff = Handoff::new(&job)?;
    handoff.pass(&mut cmd);
    die_with_parent(&mut cmd);
    let signals = Signals::new();
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Internal(format!("cannot start `{python}`: {e}")))?;
    drop(handoff);
    let mut sampler = crate::memory::rss::Sampler::new(child.id());
    let deadline = timeout.map(|s| started + Duration::from_secs_f64(s));
    let mut nap = Duration::from_micros(200);
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break status
                    .code()
                    .map(Ended::Exited)
                    .unwrap_or_else(|| Ended::Signalled(status.signal().unwrap_or(0)))
            }
            Ok(None) => {}
            Err(e) => return Err(Error::Internal(format!("lost the worker: {e}"))),
        }
        if let Some(sig) = signals.take() {
            // SAFETY: signalling the worker, which has not been reaped yet, has no preconditions.
            unsafe { libc::kill(child.id() as i32, sig) };
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // The program is stopped with every process it started (a pool, a `sleep 30`).
            for pid in descendants(child.id()) {
                // SAFETY: signalling a process has no memory-safety preconditions.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
            break Ended::TimedOut(timeout.unwrap_or(0.0));
        }
        sampler.poll(header);
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10)).min(sampler.interval());
    };
    drop(signals);
    let wall_ns = started.elapsed().as_nanos() as u64;
    let b = (clock::ticks(), clock::monotonic_ns());
    let calibration = if b.1 - a.1 > 5_000_000 {
        Calibration::between(kind, a, b)
    } else {
        Calibration::measure(kind)
    };

    // The worker has exited: what it wrote is in the mapping the launcher already holds.
    let capture = Reader::parse(&live);
    drop(live);
    let children = if job.subprocesses {
        children(dir.path(), matches!(ended, Ended::TimedOut(_)))
    } else {
        Vec::new()
    };
    drop(dir);
    Ok(Finished {
        children,
        timeline: sampler.samples,
        capture,
        ended,
        calibration,
        end_ticks: b.0,
        wall_ns,
    })
}
