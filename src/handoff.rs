//! How a job reaches its worker: in an unlinked temporary file the worker inherits, whose
//! descriptor the environment names. (The job itself in the environment or the argument list
//! would cap programs' arguments and `-c` code near 128 KiB.)

use crate::error::Error;
use crate::record::job::ENV;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd};
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
        use std::os::unix::process::CommandExt;
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
