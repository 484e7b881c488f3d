//! The guard rails around one playground run's processes: a session of their own, resource
//! limits, no network, a cap on processes, and the kill of everything they left. Guard rails for a
//! local tool, not a sandbox for hostile code.

use serde::Serialize;
use std::ffi::{CStr, CString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// What one run may use.
#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    pub time_s: f64,
    pub cpu_s: u64,
    pub memory_mib: u64,
    pub file_mib: u64,
    pub processes: u64,
    pub output_bytes: usize,
    pub max_steps: u32,
}

/// How the network is cut, as probed once at start.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Net {
    /// unshare(CLONE_NEWNET) with the privilege the server has.
    Namespace,
    /// A user namespace of the caller's own uid first, then the network namespace.
    UserNamespace,
    Open,
}

/// How the number of processes is capped.
#[derive(Clone, Debug)]
enum Procs {
    /// A pids cgroup per run under this directory (root, where the cgroup tree can be written).
    Cgroup(PathBuf),
    /// RLIMIT_NPROC (counts every process of the uid; the kernel ignores it for root).
    Rlimit,
    Unlimited,
}

/// The guards this machine allows, described for `GET /api/info`.
#[derive(Clone, Debug)]
pub struct Guards {
    net: Net,
    procs: Procs,
}

#[derive(Serialize)]
pub struct GuardsInfo {
    pub network: String,
    pub processes: String,
    pub session: String,
}

static JOBS: AtomicU64 = AtomicU64::new(0);

/// The cgroup (v1 `pids` hierarchy or v2 unified) this process is in, when it can be written.
fn pids_cgroup_base() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        let base = if controllers.split(',').any(|c| c == "pids") {
            Path::new("/sys/fs/cgroup/pids").join(path)
        } else if controllers.is_empty() {
            Path::new("/sys/fs/cgroup").join(path)
        } else {
            continue;
        };
        sweep_cgroups(&base);
        let parent = base.join(format!("{}{}", super::jobs::DIR_PREFIX, std::process::id()));
        if std::fs::create_dir(&parent).is_ok() {
            // On v2 the parent hands the controller down; a child must then have its own pids.max.
            if controllers.is_empty() {
                enable_pids_v2(&parent);
            }
            let probe = parent.join("probe");
            let works = std::fs::create_dir(&probe).is_ok() && probe.join("pids.max").exists();
            let _ = std::fs::remove_dir(&probe);
            if works {
                return Some(parent);
            }
            let _ = std::fs::remove_dir(&parent);
        }
    }
    None
}

/// The cgroups of servers that were killed before they could remove them: what is left in them
/// is killed.
fn sweep_cgroups(base: &Path) {
    for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(super::jobs::DIR_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        for run in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
            if run.path().is_dir() {
                Jail {
                    cgroup: Some(run.path()),
                    pgid: None,
                }
                .close();
            }
        }
        let _ = std::fs::remove_dir(e.path());
    }
}

/// On cgroup v2 a child gets `pids.max` only when its parent hands the controller down.
fn enable_pids_v2(parent: &Path) {
    let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+pids");
}

impl Guards {
    /// Tries each guard once, with a child that does nothing else.
    pub fn probe(python: &str) -> Guards {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let tries: &[Net] = if root {
            &[Net::Namespace, Net::UserNamespace]
        } else {
            &[Net::UserNamespace]
        };
        let net = tries
            .iter()
            .copied()
            .find(|&n| {
                let mut cmd = Command::new(python);
                cmd.args(["-S", "-c", ""]).stdout(std::process::Stdio::null());
                cut_network(&mut cmd, n);
                cmd.status().is_ok_and(|s| s.success())
            })
            .unwrap_or(Net::Open);
        let procs = match pids_cgroup_base() {
            Some(p) => Procs::Cgroup(p),
            None if !root => Procs::Rlimit,
            None => Procs::Unlimited,
        };
        Guards { net, procs }
    }

    pub fn info(&self, limits: &Limits) -> GuardsInfo {
        GuardsInfo {
            network: match self.net {
                Net::Namespace | Net::UserNamespace => {
                    "cut: each run starts in a network namespace of its own (only a loopback that is down)".into()
                }
                Net::Open => "open: this kernel allows no network namespace here (no privilege, no user namespaces)".into(),
            },
            processes: match &self.procs {
                Procs::Cgroup(_) => format!("at most {} tasks per run (a pids cgroup)", limits.processes),
                Procs::Rlimit => format!("at most {} more tasks of your user (RLIMIT_NPROC)", limits.processes),
                Procs::Unlimited => {
                    "not capped: running as root, whose processes the kernel does not count, and no pids cgroup could be made".into()
                }
            },
            session: "each run in a session and process group of its own, killed whole when it ends".into(),
        }
    }

    /// Whether runs start without a network.
    pub fn offline(&self) -> bool {
        self.net != Net::Open
    }

    /// Leaves what this server made (its cgroup directory).
    pub fn close(&self) {
        if let Procs::Cgroup(p) = &self.procs {
            let _ = std::fs::remove_dir(p);
        }
    }

    /// Sets `cmd` up to start guarded; the returned jail kills what is left of it.
    pub fn jail(&self, cmd: &mut Command, limits: &Limits) -> Result<Jail, String> {
        let cgroup = match &self.procs {
            Procs::Cgroup(base) => {
                let dir = base.join(format!("run-{}", JOBS.fetch_add(1, Ordering::Relaxed)));
                let made = std::fs::create_dir(&dir).is_ok()
                    && std::fs::write(dir.join("pids.max"), limits.processes.to_string()).is_ok();
                if !made {
                    let _ = std::fs::remove_dir(&dir);
                    return Err(format!("cannot make the run's pids cgroup under {}", base.display()));
                }
                Some(dir)
            }
            _ => None,
        };
        let nproc = match self.procs {
            Procs::Rlimit => Some(own_tasks() + limits.processes),
            _ => None,
        };
        let procs_file = cgroup
            .as_ref()
            .and_then(|d| CString::new(d.join("cgroup.procs").into_os_string().into_encoded_bytes()).ok());
        let rlimits = [
            (libc::RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 2),
            (libc::RLIMIT_AS, limits.memory_mib << 20, limits.memory_mib << 20),
            (libc::RLIMIT_FSIZE, limits.file_mib << 20, limits.file_mib << 20),
            (libc::RLIMIT_CORE, 0, 0),
        ];
        // SAFETY: the closure runs in the forked child before exec and makes only system calls,
        // on buffers made before the fork (no allocation, no lock).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(f) = &procs_file {
                    write_number(f, libc::getpid() as u64)?;
                }
                for (what, soft, hard) in rlimits {
                    let r = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    libc::setrlimit(what, &r);
                }
                if let Some(n) = nproc {
                    let r = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    libc::setrlimit(libc::RLIMIT_NPROC, &r);
                }
                Ok(())
            });
        }
        cut_network(cmd, self.net);
        Ok(Jail { cgroup, pgid: None })
    }
}

/// The tasks (threads included, as RLIMIT_NPROC counts them) of this process's user.
fn own_tasks() -> u64 {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() }.to_string();
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        };
        if field("Uid:").as_deref() == Some(uid.as_str()) {
            n += field("Threads:").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1);
        }
    }
    n
}

/// Writes `n` in decimal to the file at `path`, without allocating (safe after fork).
fn write_number(path: &CStr, n: u64) -> std::io::Result<()> {
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    write_bytes(path, &buf[i..])
}

fn write_bytes(path: &CStr, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: path is NUL-terminated; the descriptor is ours and closed before returning.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let w = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if w < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `cmd` starts in a network namespace of its own (see [`Net`]).
fn cut_network(cmd: &mut Command, net: Net) {
    if net == Net::Open {
        return;
    }
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let map = |id: u32| CString::new(format!("{id} {id} 1")).expect("no NUL in digits");
    let (uid_map, gid_map) = (map(uid), map(gid));
    let files = [c"/proc/self/setgroups", c"/proc/self/uid_map", c"/proc/self/gid_map"];
    // SAFETY: runs in the forked child before exec and makes only system calls on buffers made
    // before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if net == Net::UserNamespace {
                if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let text: [&[u8]; 3] = [b"deny", uid_map.as_bytes(), gid_map.as_bytes()];
                for (f, t) in files.iter().zip(text) {
                    write_bytes(f, t)?;
                }
            } else if libc::unshare(libc::CLONE_NEWNET) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// What is left of one run's processes: its process group and, where there is one, its cgroup.
pub struct Jail {
    cgroup: Option<PathBuf>,
    pgid: Option<i32>,
}

impl Jail {
    /// The run's first process started: its pid is the group's id (it called setsid).
    pub fn started(&mut self, pid: u32) {
        self.pgid = Some(pid as i32);
    }

    /// Whether the run was refused a process because of the cap.
    pub fn hit_process_cap(&self) -> bool {
        let Some(dir) = &self.cgroup else {
            return false;
        };
        std::fs::read_to_string(dir.join("pids.events"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("max ").and_then(|n| n.trim().parse::<u64>().ok()))
            })
            .is_some_and(|n| n > 0)
    }

    /// Kills every process of the run that is still there.
    pub fn kill(&self) {
        if let Some(g) = self.pgid {
            // SAFETY: signalling a process group has no memory-safety preconditions.
            unsafe { libc::killpg(g, libc::SIGKILL) };
        }
        let Some(dir) = &self.cgroup else {
            return;
        };
        // A fork between reading the list and the kill adds a pid: read again until none is left.
        for _ in 0..500 {
            let pids = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            let pids: Vec<i32> = pids.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                // SAFETY: as above.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Kills what is left and removes the cgroup.
    pub fn close(self) {
        self.kill();
        if let Some(dir) = &self.cgroup {
            for _ in 0..200 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}
