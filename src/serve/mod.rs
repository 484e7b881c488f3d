//! `refscope serve`: the playground page and its JSON API on a local HTTP server; every run a
//! fresh guarded `refscope COMMAND` process (jobs, guard), the lesson's snippets one click away.

mod guard;
mod http;
mod jobs;
mod lesson;

pub use guard::Limits;

use crate::error::Error;
use crate::spawn::Signals;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub open_browser: bool,
    pub jobs: usize,
    pub limits: Limits,
    /// The interpreter the runs start on (the server's own).
    pub python: String,
    pub python_version: String,
}

/// `n` random bytes as hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // No /dev/urandom: the clock and the pid, which at least differ between servers.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ ((std::process::id() as u128) << 64);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The address to print: an unspecified one is reached through loopback.
fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) if v.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V6(v) if v.is_unspecified() => "[::1]".into(),
        IpAddr::V6(v) => format!("[{v}]"),
        IpAddr::V4(v) => v.to_string(),
    }
}

/// Serves until Ctrl-C (or SIGTERM, SIGHUP); returns the exit code.
pub fn serve(cfg: Config) -> Result<i32, Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the server's runtime: {e}")))?;
    let signals = Signals::stopping();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(SocketAddr::new(cfg.host, cfg.port)))
        .map_err(|e| Error::Bind {
            addr: format!("{}:{}", url_host(cfg.host), cfg.port),
            kind: e.kind(),
            why: e.to_string(),
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("cannot read the server's address: {e}")))?;
    jobs::sweep();
    let guards = guard::Guards::probe(&cfg.python);
    let token = random_hex(24);
    let url = format!("http://{}:{}/?token={token}", url_host(addr.ip()), addr.port());
    let app = Arc::new(http::App::new(
        token,
        cfg.python.clone(),
        cfg.python_version,
        cfg.limits,
        guards.clone(),
        addr,
        cfg.jobs.max(1),
    ));
    let mut out = std::io::stdout();
    let _ = writeln!(out, "refscope serve: {url}");
    let _ = out.flush();
    let info = guards.info(&app.limits);
    eprintln!(
        "  network: {}\n  processes: {}\n  Ctrl-C stops the server.",
        info.network, info.processes
    );
    if cfg.open_browser {
        // The interpreter's own `webbrowser`: it knows this desktop's browser.
        let _ = std::process::Command::new(&cfg.python)
            .args(["-m", "webbrowser", "-t", &url])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let stopping = app.clone();
    let served = rt.block_on(async move {
        let stop = async move {
            while !Signals::requested() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Runs still going are stopped and answer with what they measured.
            stopping.stop.store(true, Ordering::SeqCst);
            stopping.slots.close();
        };
        axum::serve(listener, http::router(app))
            .with_graceful_shutdown(stop)
            .await
    });
    rt.shutdown_timeout(Duration::from_secs(10));
    guards.close();
    drop(signals);
    eprintln!("refscope serve: stopped");
    served.map_err(|e| Error::Internal(format!("the server failed: {e}")))?;
    Ok(0)
}
