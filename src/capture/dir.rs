//! Where captures live: one private directory per run (the main capture and one per child
//! process), on /dev/shm when it has room, removed with everything in it when the run is read;
//! those of runs whose launcher was killed are swept by the next run.

use super::FILE_SIZE;
use crate::error::Error;
use std::path::{Path, PathBuf};

/// The run's directory: the worker's capture and one per child process; removed with everything
/// in it when the run is read.
pub struct RunDir(PathBuf);

impl RunDir {
    pub fn new() -> Result<RunDir, Error> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let base = capture_base()?;
        sweep(&base);
        loop {
            let dir = base.join(format!(
                "refscope-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(RunDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::Internal(format!(
                        "cannot create run directory {}: {e}",
                        dir.display()
                    )))
                }
            }
        }
    }
}

/// Where captures go: /dev/shm (memory) when it has room for a whole one, else the temporary
/// directory. A capture is sparse, but a write past a full tmpfs kills the worker with SIGBUS.
fn capture_base() -> Result<PathBuf, Error> {
    let free = |p: &Path| -> u64 {
        let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
            return 0;
        };
        // SAFETY: a zeroed statvfs is a valid out-parameter; `c` is a NUL-terminated path.
        unsafe {
            let mut s: libc::statvfs = std::mem::zeroed();
            if libc::statvfs(c.as_ptr(), &mut s) != 0 {
                return 0;
            }
            s.f_bavail as u64 * s.f_frsize as u64
        }
    };
    let need = FILE_SIZE as u64;
    let tmp = std::env::temp_dir();
    [PathBuf::from("/dev/shm"), tmp.clone()]
        .into_iter()
        .find(|b| b.is_dir() && free(b) >= need)
        .ok_or(Error::NoRoom {
            need_mib: need >> 20,
            tmp: tmp.display().to_string(),
        })
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the run directories of refscope launchers that were killed before they could.
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("refscope-")) else {
            continue;
        };
        let Some(pid) = rest.split_once('-').and_then(|(p, _)| p.parse::<u32>().ok()) else {
            continue;
        };
        let mine = e.metadata().is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: getuid has no preconditions.
            m.is_dir() && m.uid() == unsafe { libc::getuid() }
        });
        if mine && pid != std::process::id() && !alive(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl RunDir {
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A new capture file `NAME.capture` in the directory, sized and private to this user.
    pub fn capture(&self, name: &str) -> Result<(PathBuf, std::fs::File), Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.0.join(format!("{name}.capture"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::Internal(format!("cannot create capture file {}: {e}", path.display())))?;
        file.set_len(FILE_SIZE as u64)
            .map_err(|e| Error::Internal(format!("cannot size capture file: {e}")))?;
        Ok((path, file))
    }
}

/// Whether process `pid` still runs (a zombie has ended).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// A mapping refused for lack of address space is the memory limit's doing (`ulimit -v`).
pub fn map_error(e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ENOMEM) {
        Error::MemoryLimit(FILE_SIZE as u64 >> 20)
    } else {
        Error::Internal(format!("cannot map capture: {e}"))
    }
}
