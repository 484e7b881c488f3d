//! `refscope serve`: the playground's options, checked here; the server is in `serve`.

use crate::error::Error;
use crate::serve::{Config, Limits};
use clap::Args;
use pyo3::prelude::*;
use std::net::IpAddr;

#[derive(Args, Debug)]
#[command(
    about = "A local playground page: paste code, see names, objects, frees, time and sizes",
    long_about = "Start a local web server with a playground page (an editor, the lesson's snippets, and tabs for \
explain, run, size, bench and profile) and open it in the browser. The page and the JSON API it uses \
(docs/serve.md) need the token in the printed URL. Each run is a fresh `refscope COMMAND` process on this \
interpreter, in a temporary directory of its own, with a time limit, resource limits and, where the kernel \
allows it, no network: guard rails for a local tool, not a sandbox for hostile code.",
    after_help = "Examples:\n  refscope serve                    http://127.0.0.1:8000/?token=…, opened in the browser\n  refscope serve --port 0 --no-browser   a free port; the URL is the first line on stdout\n  curl -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n       -d '{\"code\": \"a = [1]; b = a\"}' http://127.0.0.1:8000/api/explain\n\nCtrl-C stops the server and every run still going."
)]
pub struct ServeArgs {
    /// The address to listen on (anything but loopback lets other machines reach it)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1", value_parser = parse_host)]
    pub(crate) host: IpAddr,
    /// The port to listen on (0: a free one)
    #[arg(long, value_name = "N", default_value_t = 8000)]
    pub(crate) port: u16,
    /// Do not open the page in a browser
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// Runs at the same time; more wait in a queue (default: the number of cores)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) jobs: Option<u32>,
    /// Wall-clock limit of one run
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_seconds)]
    pub(crate) time_limit: f64,
    /// Address space one run's processes may each use
    #[arg(long, value_name = "MIB", default_value_t = 2048, value_parser = clap::value_parser!(u64).range(256..=1 << 30))]
    pub(crate) memory_limit: u64,
}

fn parse_host(s: &str) -> Result<IpAddr, String> {
    if s.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("`{s}` is not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0)"))
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t > 0.0 && t <= 3600.0 => Ok(t),
        _ => Err(format!("`{s}` is not a number of seconds from 0 to 3600")),
    }
}

pub fn run(py: Python<'_>, a: ServeArgs) -> Result<i32, Error> {
    let sys = py.import("sys").map_err(|e| Error::Internal(e.to_string()))?;
    let python: String = sys
        .getattr("executable")
        .and_then(|e| e.extract())
        .map_err(|e| Error::Internal(format!("no sys.executable: {e}")))?;
    let python_version: String = sys
        .getattr("version")
        .and_then(|v| v.extract())
        .map(|v: String| v.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let time_s = a.time_limit;
    let cfg = Config {
        host: a.host,
        port: a.port,
        open_browser: !a.no_browser,
        jobs: a.jobs.map(|j| j as usize).unwrap_or(cores),
        limits: Limits {
            time_s,
            // CPU time is a second line behind the wall clock (threads add theirs up).
            cpu_s: (2.0 * time_s).ceil() as u64 + 1,
            memory_mib: a.memory_limit,
            // refscope's own capture file is one of the run's files.
            file_mib: (crate::capture::FILE_SIZE >> 20) as u64 + 64,
            processes: 64,
            output_bytes: 1 << 20,
            max_steps: 2_000,
        },
        python,
        python_version,
    };
    if !a.host.is_loopback() {
        super::warn(&format!(
            "listening on {}: anyone who can reach this machine and has the token can run code as you",
            a.host
        ));
    }
    py.detach(|| crate::serve::serve(cfg))
}
