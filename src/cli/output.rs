//! Report files the user asked for. Each is written whole to a temporary file beside it and
//! renamed into place at the end, so a run that fails leaves an existing file as it was, and a
//! path that names the program (or another output of the same run) is refused before anything
//! runs. A symlink is followed (its target is replaced, not the link); a path that is not a
//! regular file (`/dev/null`, `/dev/stdout`, a FIFO) is written in place, never replaced.

use crate::error::Error;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct Output {
    path: PathBuf,
    /// None: written in place (a device or FIFO).
    tmp: Option<tempfile::NamedTempFile>,
}

/// (device, inode) of an existing file.
fn identity(p: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

impl Output {
    /// Checks that `path` can be written and is none of `inputs` (the program's files) or
    /// `others` (the run's other outputs).
    pub fn reserve(path: &Path, inputs: &[&Path], others: &[&Path]) -> Result<Output, Error> {
        let same = |a: &Path, b: &Path| {
            identity(a).is_some_and(|i| Some(i) == identity(b))
                || std::path::absolute(a).ok() == std::path::absolute(b).ok()
        };
        if let Some(input) = inputs.iter().find(|i| same(path, i)) {
            return Err(Error::OutputIsInput(path.into(), input.display().to_string()));
        }
        if others.iter().any(|o| same(path, o)) {
            return Err(Error::OutputTwice(path.into()));
        }
        let meta = std::fs::metadata(path).ok();
        if meta.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(Error::Unwritable(path.into(), "it is a directory".into()));
        }
        if meta.as_ref().is_some_and(|m| !m.is_file()) {
            return Ok(Output {
                path: path.into(),
                tmp: None,
            });
        }
        // The link's target is the file to replace.
        let target = if meta.is_some() && path.is_symlink() {
            std::fs::canonicalize(path).unwrap_or_else(|_| path.into())
        } else {
            path.into()
        };
        let path = target.as_path();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::Unwritable(path.into(), e.to_string()))?;
        Ok(Output {
            path: path.into(),
            tmp: Some(tmp),
        })
    }

    /// Reserves each output asked for, refusing one that names an input or an output before it.
    pub fn reserve_each<const N: usize>(
        asked: [Option<&Path>; N],
        inputs: &[&Path],
    ) -> Result<[Option<Output>; N], Error> {
        let mut out: [Option<Output>; N] = std::array::from_fn(|_| None);
        for (i, p) in asked.iter().enumerate() {
            let before: Vec<&Path> = asked[..i].iter().flatten().copied().collect();
            out[i] = p.map(|p| Output::reserve(p, inputs, &before)).transpose()?;
        }
        Ok(out)
    }

    /// Writes `text` and puts the file in place (with the mode an ordinary new file gets, or the
    /// one the file it replaces had).
    pub fn write(self, text: &str) -> Result<(), Error> {
        self.write_bytes(text.as_bytes())
    }

    /// As `write`, for a binary file.
    pub fn write_bytes(self, bytes: &[u8]) -> Result<(), Error> {
        use std::os::unix::fs::PermissionsExt;
        let unwritable = |e: std::io::Error| Error::Unwritable(self.path.clone(), e.to_string());
        let Some(mut tmp) = self.tmp else {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)
                .map_err(unwritable)?;
            return f.write_all(bytes).and_then(|_| f.flush()).map_err(unwritable);
        };
        tmp.write_all(bytes).map_err(unwritable)?;
        tmp.flush().map_err(unwritable)?;
        let mode = match std::fs::metadata(&self.path) {
            Ok(m) => m.permissions().mode() & 0o7777,
            Err(_) => 0o666 & !umask(),
        };
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode));
        let path = self.path.clone();
        tmp.persist(&path)
            .map(drop)
            .map_err(|e| Error::Unwritable(path, e.error.to_string()))
    }
}

fn umask() -> u32 {
    // SAFETY: umask has no preconditions; it is set back at once (refscope starts no thread
    // that creates files meanwhile).
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    }
}

/// Keeps fds 0 to 2 taken while output files are opened, so that none of them becomes the
/// terminal report's stream when the caller closed one (`2>&-`); they are closed again on drop,
/// so the program starts with the same fds closed as under python.
pub struct LowFds(Vec<i32>);

impl LowFds {
    pub fn hold() -> LowFds {
        let mut held = Vec::new();
        for fd in 0..3 {
            // SAFETY: fcntl on a small integer only asks whether it is an open descriptor.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
                // SAFETY: opens /dev/null; the lowest free descriptor is the closed one.
                let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
                if got >= 0 {
                    held.push(got);
                }
            }
        }
        LowFds(held)
    }
}

impl Drop for LowFds {
    fn drop(&mut self) {
        for &fd in &self.0 {
            // SAFETY: closes a descriptor `hold` opened.
            unsafe { libc::close(fd) };
        }
    }
}
