//! Starting a worker process: its job handed over in an unlinked temporary file it inherits,
//! whose descriptor the environment names (in the environment or the argument list a job would
//! cap programs' arguments and `-c` code near 128 KiB); the worker dying with its launcher; the
//! stop signals the launcher catches while a worker runs.

use crate::error::Error;
use crate::record::job::ENV;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

pub struct Handoff(std::fs::File);

impl Handoff {
    pub fn new(job: &impl Serialize) -> Result<Handoff, Error> {
        let fail = |e: std::io::Error| Error::Internal(format!("cannot hand the job to the worker: {e}"));
        let mut f = tempfile::tempfile().map_err(fail)?;
        f.write_all(&serde_json::to_vec(job).expect("jobs serialize"))
            .map_err(fail)?;
        f.rewind().map_err(fail)?;
        Ok(Handoff(f))
    }

    /// `cmd`'s process inherits the file and is told where it is. Each process needs its own
    /// handoff (they share the file's offset).
    pub fn pass(&self, cmd: &mut Command) {
        let fd = self.0.as_raw_fd();
        cmd.env(ENV, fd.to_string());
        // SAFETY: fcntl is async-signal-safe and only clears close-on-exec on our own descriptor.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// In the worker: the job the launcher handed over; the descriptor is closed and the variable
/// gone before the program runs.
pub fn take<T: DeserializeOwned>(py: Python<'_>) -> PyResult<T> {
    let bad = |why: String| PyRuntimeError::new_err(format!("bad worker job: {why}"));
    let fd: String = py
        .import("os")?
        .getattr("environ")?
        .call_method1("pop", (ENV, ""))?
        .extract()?;
    let fd: i32 = fd
        .parse()
        .map_err(|_| bad(format!("`{ENV}` is `{fd}`, not a descriptor")))?;
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(bad(format!("descriptor {fd} is not open")));
    }
    // SAFETY: the launcher left this descriptor open for us alone; the File owns and closes it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}

static STOP: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn on_stop(sig: libc::c_int) {
    STOP.store(sig, std::sync::atomic::Ordering::Relaxed);
}

/// SIGINT while the program runs: the terminal's (`si_code` SI_KERNEL) reached the program's
/// whole group already; one sent by a process (`kill -INT`, SI_USER and below) is passed on.
extern "C" fn on_interrupt(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    if info.is_null() || unsafe { (*info).si_code } <= 0 {
        STOP.store(sig, std::sync::atomic::Ordering::Relaxed);
    }
}

/// While a worker runs: Ctrl-C at the terminal is the program's (the terminal sends it to the
/// whole group), a SIGINT, SIGTERM or SIGHUP sent to refscope is passed on to the program, which
/// ends as it would under python, and the report is still written.
pub struct Signals([(libc::c_int, libc::sigaction); 3]);

impl Signals {
    pub fn new() -> Signals {
        Signals::install(false)
    }

    /// For work refscope does itself (bench's workers run in their own process group, away
    /// from the terminal's Ctrl-C): SIGINT stops it too.
    pub fn stopping() -> Signals {
        Signals::install(true)
    }

    fn install(interrupt_stops: bool) -> Signals {
        STOP.store(0, std::sync::atomic::Ordering::Relaxed);
        let set = |sig, handler: libc::sighandler_t, siginfo: bool| {
            // SAFETY: a zeroed sigaction is a valid empty one; both pointers are to live locals;
            // the handlers only store to an atomic.
            unsafe {
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = handler;
                if siginfo {
                    new.sa_flags = libc::SA_SIGINFO;
                }
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, &new, &mut old);
                (sig, old)
            }
        };
        let stop = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        let interrupt =
            on_interrupt as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as libc::sighandler_t;
        Signals([
            if interrupt_stops {
                set(libc::SIGINT, stop, false)
            } else {
                set(libc::SIGINT, interrupt, true)
            },
            set(libc::SIGTERM, stop, false),
            set(libc::SIGHUP, stop, false),
        ])
    }

    /// Whether a stop signal came (and stays noted), for work in this process.
    pub fn requested() -> bool {
        STOP.load(std::sync::atomic::Ordering::Relaxed) != 0
    }

    /// The stop signal received since the last call, if any.
    pub fn take(&self) -> Option<libc::c_int> {
        let s = STOP.swap(0, std::sync::atomic::Ordering::Relaxed);
        (s != 0).then_some(s)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (sig, old) in &self.0 {
            // SAFETY: puts back the action `new` read.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
    }
}

/// The worker dies with the launcher, however the launcher ends.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: runs in the forked child before exec and only makes system calls.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                // The launcher died before the request took effect.
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
