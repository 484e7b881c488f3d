//! `refscope serve`: the playground page and its JSON API on a local HTTP server; every run a
//! fresh guarded `refscope COMMAND` process (jobs, guard), the lesson's snippets one click away.

mod guard;
mod http;
mod jobs;
mod lesson;

pub use guard::Limits;

use crate::error::Error;
use crate::spawn::Signals;
use std::future::IntoFuture;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long Ctrl-C waits for answers still being written (a run's own stop takes a few seconds).
const STOP_WAIT: Duration = Duration::from_secs(8);

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

/// `n` random bytes from the kernel, as hex; None when it has none to give.
fn random_hex(n: usize) -> Option<String> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        // SAFETY: the kernel writes at most `n - got` bytes into the rest of `buf`.
        let r = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), n - got, 0) };
        if r <= 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
        got += r as usize;
    }
    Some(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A file only the user can read that sends the browser to `url`: the token stays out of the
/// browser's command line, which every local user can read.
fn opener(url: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::env::temp_dir().join(format!("{}{}-open.html", jobs::DIR_PREFIX, std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .ok()?;
    let page = format!(
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"0;url={url}\"><title>refscope serve</title><a href=\"{url}\">refscope serve</a>"
    );
    f.write_all(page.as_bytes()).ok()?;
    Some(path)
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
    let token = random_hex(24).ok_or_else(|| Error::Internal("the kernel gives no random bytes for a token".into()))?;
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
    let opened = cfg.open_browser.then(|| opener(&url)).flatten();
    if let Some(file) = &opened {
        // The interpreter's own `webbrowser`: it knows this desktop's browser.
        let _ = std::process::Command::new(&cfg.python)
            .args(["-m", "webbrowser", "-t"])
            .arg(file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let stopping = app.clone();
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let told = shutdown.clone();
    let served = rt.block_on(async move {
        let server = tokio::spawn(
            axum::serve(listener, http::router(app))
                .with_graceful_shutdown(async move { told.notified().await })
                .into_future(),
        );
        while !Signals::requested() && !server.is_finished() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Runs still going are stopped and answer with what they measured.
        stopping.stop.store(true, Ordering::SeqCst);
        stopping.slots.close();
        shutdown.notify_one();
        // A client that holds a connection open does not keep the server up.
        match tokio::time::timeout(STOP_WAIT, server).await {
            Ok(Ok(r)) => r,
            _ => Ok(()),
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    if let Some(f) = opened {
        let _ = std::fs::remove_file(f);
    }
    guards.close();
    drop(signals);
    eprintln!("refscope serve: stopped");
    served.map_err(|e| Error::Internal(format!("the server failed: {e}")))?;
    Ok(0)
}
