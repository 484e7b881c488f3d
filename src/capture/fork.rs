//! A forked child must never write into its parent's capture: both would bump the same shared
//! counters. Right after `fork()` returns in the child, before any Python code (CPython's own
//! after-fork work allocates and frees), a `pthread_atfork` handler moves the child onto a capture
//! of its own at the same address: a new file `<pid>.capture` in the run directory holding a copy
//! of the header and log (so its slots still name the same lines) and zeroed counters. Every
//! pointer into the mapping stays valid. The handler makes only system calls.

use super::{Header, FILE_SIZE, HEADER_SIZE, LOG_CAPACITY};
use crate::record::NO_SLOT;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

/// Room for the run directory's path, its NUL and `/<pid>.capture`.
const PATH_ROOM: usize = 4096;

struct Target {
    base: *mut u8,
    /// The run directory, without NUL; empty: forks are not followed (they get no capture).
    dir: [u8; PATH_ROOM],
    dir_len: usize,
}

static TARGET: AtomicPtr<Target> = AtomicPtr::new(std::ptr::null_mut());
static REGISTERED: AtomicBool = AtomicBool::new(false);
/// In a child: whether the last fork got a capture of its own.
static FOLLOWED: AtomicBool = AtomicBool::new(false);
/// The pid whose capture the mapping holds.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// From now on a fork of this process gets its own capture in `dir` (None: a throw-away
/// mapping, for runs that do not measure children). `base` is the mapping's start.
pub fn follow(base: *mut u8, dir: Option<&std::path::Path>) {
    let mut t = Box::new(Target {
        base,
        dir: [0; PATH_ROOM],
        dir_len: 0,
    });
    if let Some(d) = dir {
        let bytes = d.as_os_str().as_encoded_bytes();
        if bytes.len() + 32 < PATH_ROOM {
            t.dir[..bytes.len()].copy_from_slice(bytes);
            t.dir_len = bytes.len();
        }
    }
    OWNER.store(std::process::id(), Ordering::Relaxed);
    // The previous target (if any) is leaked: a handler may be reading it.
    TARGET.store(Box::into_raw(t), Ordering::Release);
    if !REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: registers a plain function with no preconditions.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    }
}

/// Whether this process is a forked child that got a capture of its own (false in the process
/// that called `follow`).
pub fn followed() -> bool {
    FOLLOWED.load(Ordering::Relaxed) && OWNER.load(Ordering::Relaxed) == std::process::id()
}

extern "C" fn in_child() {
    FOLLOWED.store(false, Ordering::Relaxed);
    let t = TARGET.load(Ordering::Acquire);
    if t.is_null() {
        return;
    }
    // SAFETY: targets are never freed.
    let t = unsafe { &*t };
    // SAFETY: only system calls on the mapping `t.base` (FILE_SIZE bytes, alive in the child as
    // in the parent) and a path built in a local buffer.
    unsafe {
        let pid = libc::getpid() as u32;
        OWNER.store(pid, Ordering::Relaxed);
        if t.dir_len > 0 && own_capture(t, pid) {
            FOLLOWED.store(true, Ordering::Relaxed);
            return;
        }
        // No capture of its own: the child's counters go to private memory nobody reads.
        libc::mmap(
            t.base.cast(),
            FILE_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        );
    }
}

/// Creates `<dir>/<pid>.capture` with the header and log, and maps it over the parent's.
///
/// # Safety
/// `t.base` is the start of a live FILE_SIZE capture mapping.
unsafe fn own_capture(t: &Target, pid: u32) -> bool {
    let mut path = [0u8; PATH_ROOM];
    let mut n = t.dir_len;
    path[..n].copy_from_slice(&t.dir[..n]);
    path[n] = b'/';
    n += 1;
    let mut digits = [0u8; 10];
    let mut d = 0;
    let mut p = pid;
    loop {
        digits[d] = b'0' + (p % 10) as u8;
        d += 1;
        p /= 10;
        if p == 0 {
            break;
        }
    }
    for i in (0..d).rev() {
        path[n] = digits[i];
        n += 1;
    }
    for &b in b".capture" {
        path[n] = b;
        n += 1;
    }
    // SAFETY: `path` is NUL-terminated (zeroed beyond `n`); the header is plain data at the
    // start of the live mapping; the written range is inside it.
    unsafe {
        let fd = libc::open(
            path.as_ptr().cast(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o600,
        );
        if fd < 0 {
            return false;
        }
        let h = &*(t.base as *const Header);
        let used = HEADER_SIZE + (h.log_len.load(Ordering::Acquire) as usize).min(LOG_CAPACITY);
        let mut done = 0;
        while done < used {
            let w = libc::write(fd, t.base.add(done).cast(), used - done);
            if w <= 0 {
                libc::close(fd);
                return false;
            }
            done += w as usize;
        }
        let ok = libc::ftruncate(fd, FILE_SIZE as libc::off_t) == 0
            && libc::mmap(
                t.base.cast(),
                FILE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                fd,
                0,
            ) != libc::MAP_FAILED;
        libc::close(fd);
        if ok {
            let h = &*(t.base as *const Header);
            h.flags.store(0, Ordering::Relaxed);
            h.last_line.store(NO_SLOT, Ordering::Relaxed);
            h.start_ticks.store(0, Ordering::Relaxed);
            h.end_ticks.store(0, Ordering::Relaxed);
        }
        ok
    }
}
