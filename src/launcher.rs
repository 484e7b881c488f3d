//! Starts a worker process on the same interpreter, waits for it (with an optional timeout) and
//! reads back its capture, whatever way the worker ended.

use crate::capture::{self, Reader};
use crate::clock::{self, Calibration};
use crate::error::Error;
use crate::record::job::{Job, BOOTSTRAP, ENV};
use crate::record::{Capture, Ended};
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
}

struct CaptureFile(PathBuf);

impl Drop for CaptureFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn capture_path() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from("/dev/shm");
    let dir = if dir.is_dir() { dir } else { std::env::temp_dir() };
    dir.join(format!(
        "refscope-{}-{}.capture",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Keeps Ctrl-C for the program: the launcher ignores SIGINT while the worker runs.
struct IgnoreSigint(libc::sigaction);

impl IgnoreSigint {
    fn new() -> IgnoreSigint {
        // SAFETY: a zeroed sigaction is a valid empty one; both pointers are to live locals.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = libc::SIG_IGN;
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, &new, &mut old);
            IgnoreSigint(old)
        }
    }
}

impl Drop for IgnoreSigint {
    fn drop(&mut self) {
        // SAFETY: puts back the action `new` read.
        unsafe { libc::sigaction(libc::SIGINT, &self.0, std::ptr::null_mut()) };
    }
}

/// Runs `job` (its capture and cwd are filled in here) in a worker on `python`.
pub fn run(python: &str, mut job: Job, timeout: Option<f64>) -> Result<Finished, Error> {
    let path = capture_path();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::Internal(format!("cannot create capture file {}: {e}", path.display())))?;
    let guard = CaptureFile(path.clone());
    file.set_len(capture::FILE_SIZE as u64)
        .map_err(|e| Error::Internal(format!("cannot size capture file: {e}")))?;
    let cwd = std::env::current_dir().map_err(|e| Error::Internal(format!("no current directory: {e}")))?;
    // SAFETY: the launcher only reads the mapping; the worker writes it through its own.
    let live = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::Internal(format!("cannot map capture: {e}")))?;
    // SAFETY: the mapping is FILE_SIZE bytes, page aligned, and starts with the header.
    let header = unsafe { &*(live.as_ptr() as *const capture::Header) };
    job.capture = path.display().to_string();
    job.cwd = cwd.display().to_string();

    let kind = clock::kind();
    let a = (clock::ticks(), clock::monotonic_ns());
    let started = Instant::now();
    let mut child = Command::new(python)
        .arg("-c")
        .arg(BOOTSTRAP)
        .env(ENV, serde_json::to_string(&job).expect("jobs serialize"))
        .spawn()
        .map_err(|e| Error::Internal(format!("cannot start `{python}`: {e}")))?;
    let sigint = IgnoreSigint::new();
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
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            break Ended::TimedOut(timeout.unwrap_or(0.0));
        }
        sampler.poll(header);
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10)).min(sampler.interval());
    };
    drop(sigint);
    let wall_ns = started.elapsed().as_nanos() as u64;
    let b = (clock::ticks(), clock::monotonic_ns());
    let calibration = if b.1 - a.1 > 5_000_000 {
        Calibration::between(kind, a, b)
    } else {
        Calibration::measure(kind)
    };

    // SAFETY: the worker has exited; nothing else maps this private file.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::Internal(format!("cannot read capture: {e}")))?;
    let capture = Reader::parse(&map);
    drop(live);
    drop(guard);
    Ok(Finished {
        timeline: sampler.samples,
        capture,
        ended,
        calibration,
        end_ticks: b.0,
        wall_ns,
    })
}
