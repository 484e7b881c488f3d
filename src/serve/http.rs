//! The HTTP side: routes, the checks every request passes (Host, Origin, token) and the headers
//! every answer carries.

use super::guard::{Guards, Limits};
use super::jobs::{self, Kind, Request};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Largest request body.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Longest setup code for size and bench, which pass it as one argument (Linux caps one at 128 KiB).
const ARG_LIMIT: usize = 120 * 1024;
/// Runs that may wait for a slot; past them the server answers 503.
pub const MAX_WAITING: usize = 64;
/// Result pages kept for `/results/…`.
const KEPT: usize = 64;
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The cookie is `refscope_token_<port>`: browsers share cookies between the ports of one host.
const COOKIE: &str = "refscope_token_";

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// The result pages carry their scripts and styles inline and fetch nothing.
/// Sandboxed, so a result page opened in a tab of its own runs without the server's origin too.
const RESULT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox allow-scripts allow-downloads";

#[derive(rust_embed::Embed)]
#[folder = "src/serve/assets"]
struct Assets;

pub struct App {
    pub token: String,
    pub python: String,
    pub python_version: String,
    pub limits: Limits,
    pub guards: Guards,
    pub addr: SocketAddr,
    pub slots: Arc<tokio::sync::Semaphore>,
    pub waiting: AtomicUsize,
    pub stop: AtomicBool,
    results: Mutex<VecDeque<(String, Kind, Arc<String>)>>,
}

impl App {
    pub fn new(
        token: String,
        python: String,
        python_version: String,
        limits: Limits,
        guards: Guards,
        addr: SocketAddr,
        jobs: usize,
    ) -> App {
        App {
            token,
            python,
            python_version,
            limits,
            guards,
            addr,
            slots: Arc::new(tokio::sync::Semaphore::new(jobs)),
            waiting: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            results: Mutex::new(VecDeque::new()),
        }
    }

    fn own_host(&self, host: &str) -> bool {
        names_server(self.addr, host)
    }

    fn token_ok(&self, given: &str) -> bool {
        // The same time whatever the first wrong byte.
        given.len() == self.token.len()
            && given
                .bytes()
                .zip(self.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        bearer.is_some_and(|t| self.token_ok(t.trim())) || cookie_ok(self, headers)
    }

    fn keep(&self, kind: Kind, page: String) -> String {
        // Ids need only differ (results are behind the token); the kernel's bytes make them unguessable too.
        let id = super::random_hex(8).unwrap_or_else(|| format!("{:016x}", NEXT_ID.fetch_add(1, Ordering::Relaxed)));
        let mut r = self.results.lock().unwrap_or_else(|e| e.into_inner());
        if r.len() >= KEPT {
            r.pop_front();
        }
        r.push_back((id.clone(), kind, Arc::new(page)));
        id
    }

    fn kept(&self, id: &str) -> Option<(Kind, Arc<String>)> {
        let r = self.results.lock().unwrap_or_else(|e| e.into_inner());
        r.iter().find(|(i, ..)| i == id).map(|(_, k, p)| (*k, p.clone()))
    }
}

/// A `Host` (or an `Origin`'s host) names this server: its own address or `localhost`, with its
/// port. Any other name may be a DNS-rebinding page.
fn names_server(addr: SocketAddr, host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.is_empty() && !p.contains(']') => (n, p),
        _ => return false,
    };
    if port.parse::<u16>().ok() != Some(addr.port()) {
        return false;
    }
    let bound = addr.ip();
    if name.eq_ignore_ascii_case("localhost") {
        return bound.is_loopback() || bound.is_unspecified();
    }
    match name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => ip == bound || bound.is_unspecified(),
        Err(_) => false,
    }
}

/// A place in the queue of runs waiting for a slot, given up when dropped (also when the client
/// goes away while it waits).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize) -> Option<Waiting<'a>> {
        let before = count.fetch_add(1, Ordering::SeqCst);
        let place = Waiting(count);
        (before < MAX_WAITING).then_some(place)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether one of the request's cookies named for this server's port holds the token.
fn cookie_ok(app: &App, headers: &HeaderMap) -> bool {
    let name = format!("{COOKIE}{}=", app.addr.port());
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(name.as_str()))
        .any(|t| app.token_ok(t))
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/assets/{file}", get(asset))
        .route("/api/info", get(info))
        .route("/api/{command}", post(api))
        .route("/results/{file}", get(result))
        .fallback(|| async {
            refuse(
                StatusCode::NOT_FOUND,
                "no such page",
                "the API is under /api/: see docs/serve.md",
            )
        })
        .layer(axum::middleware::from_fn_with_state(app.clone(), checks))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

fn refuse(status: StatusCode, error: &str, hint: &str) -> Response {
    (status, Json(json!({"error": error, "hint": hint}))).into_response()
}

/// Host and Origin before anything else; the token for the API and the results; the headers of
/// every answer.
async fn checks(State(app): State<Arc<App>>, req: axum::extract::Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut answer = if !app.own_host(host) {
        refuse(
            StatusCode::FORBIDDEN,
            "this server answers only requests for its own address",
            "open the URL `refscope serve` printed",
        )
    } else if let Some(origin) = headers.get(header::ORIGIN) {
        let own = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(|h| app.own_host(h));
        if own {
            gate(&app, req, next).await
        } else {
            refuse(
                StatusCode::FORBIDDEN,
                "requests from other sites are refused",
                "use the page this server serves",
            )
        }
    } else if headers.get("sec-fetch-site").is_some_and(|v| v == "cross-site") {
        refuse(
            StatusCode::FORBIDDEN,
            "requests from other sites are refused",
            "use the page this server serves",
        )
    } else {
        gate(&app, req, next).await
    };
    let h = answer.headers_mut();
    let csp = if h.contains_key(header::CONTENT_SECURITY_POLICY) {
        None
    } else {
        Some(PAGE_CSP)
    };
    if let Some(csp) = csp {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

async fn gate(app: &App, req: axum::extract::Request, next: Next) -> Response {
    let path = req.uri().path();
    let guarded = path.starts_with("/api/") || path.starts_with("/results/");
    if guarded && !app.authorized(req.headers()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token",
            "send `Authorization: Bearer TOKEN` with the token in the URL `refscope serve` printed",
        );
    }
    next.run(req).await
}

async fn index(State(app): State<Arc<App>>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    if let Some(t) = q.get("token") {
        if !app.token_ok(t) {
            return (
                StatusCode::UNAUTHORIZED,
                "wrong token: open the URL `refscope serve` printed\n",
            )
                .into_response();
        }
        // The token moves to a cookie and out of the address bar (and the history).
        let cookie = format!(
            "{COOKIE}{}={}; Path=/; HttpOnly; SameSite=Strict",
            app.addr.port(),
            app.token
        );
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/".to_string()), (header::SET_COOKIE, cookie)],
        )
            .into_response();
    }
    if !cookie_ok(&app, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            "this page needs its token: open the URL `refscope serve` printed\n",
        )
            .into_response();
    }
    asset_response("index.html")
}

async fn asset(Path(file): Path<String>) -> Response {
    if file == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    asset_response(&file)
}

fn asset_response(file: &str) -> Response {
    let Some(f) = Assets::get(file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mime = match file.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, mime)], f.data.into_owned()).into_response()
}

async fn info(State(app): State<Arc<App>>) -> Response {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "python": {"version": app.python_version, "executable": app.python},
        "limits": app.limits,
        "guards": app.guards.info(&app.limits),
        "snippets": super::lesson::snippets(),
    }))
    .into_response()
}

async fn api(
    State(app): State<Arc<App>>,
    Path(command): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(kind) = Kind::parse(&command) else {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!("no command `{command}`"),
            "the commands are explain, run, size, bench, profile",
        );
    };
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    if !json_body {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON",
            "send `Content-Type: application/json`",
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is larger than {} KiB", BODY_LIMIT / 1024),
                "send less code",
            )
        }
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.body_text(), "send the whole body"),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("the body is not JSON: {e}"),
                "see docs/serve.md",
            )
        }
    };
    let req = match Request::parse(kind, &value) {
        Ok(r) => r,
        Err(b) => return refuse(StatusCode::BAD_REQUEST, &b.error, &b.hint),
    };
    if matches!(kind, Kind::Size | Kind::Bench) && req.longest_argument() > ARG_LIMIT {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the setup, expression and statements of size and bench are each at most {} KiB",
                ARG_LIMIT / 1024
            ),
            "run the long code with /api/run, or send a shorter setup",
        );
    }
    let waiting = Waiting::join(&app.waiting);
    if waiting.is_none() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many runs are waiting",
            "try again in a moment",
        );
    }
    let permit = app.slots.clone().acquire_owned().await;
    drop(waiting);
    let Ok(permit) = permit else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping",
            "start it again",
        );
    };
    let worker = app.clone();
    // The slot is the run's until it ends, even if the client goes away first.
    let outcome = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        jobs::execute(&worker.python, &req, &worker.limits, &worker.guards, &worker.stop)
    })
    .await;
    let Ok(mut outcome) = outcome else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the run's thread failed",
            "this is a refscope bug: please report it",
        );
    };
    outcome.html = outcome
        .page
        .take()
        .map(|p| format!("/results/{}.html", app.keep(kind, p)));
    Json(outcome).into_response()
}

async fn result(
    State(app): State<Arc<App>>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((kind, page)) = file.strip_suffix(".html").and_then(|id| app.kept(id)) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "no such result",
            &format!("results are kept while the server runs (the last {KEPT})"),
        );
    };
    let mut headers = vec![
        (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
        (header::CONTENT_SECURITY_POLICY, RESULT_CSP.to_string()),
    ];
    if q.get("download").is_some_and(|v| v == "1") {
        headers.push((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"refscope-{}.html\"", kind.name()),
        ));
    }
    let mut r = page.as_str().to_string().into_response();
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::names_server;

    #[test]
    fn only_the_servers_own_names_are_its_hosts() {
        let local = "127.0.0.1:8000".parse().unwrap();
        assert!(names_server(local, "127.0.0.1:8000"));
        assert!(names_server(local, "localhost:8000"));
        assert!(names_server(local, "LOCALHOST:8000"));
        for h in [
            "127.0.0.1:8001",
            "localhost",
            "evil.example:8000",
            "127.0.0.2:8000",
            "[::1]:8000",
            ":8000",
            "",
        ] {
            assert!(!names_server(local, h), "{h}");
        }
        let any = "0.0.0.0:9000".parse().unwrap();
        assert!(names_server(any, "192.168.1.20:9000") && names_server(any, "localhost:9000"));
        assert!(!names_server(any, "rebind.example:9000"));
        let v6 = "[::1]:7000".parse().unwrap();
        assert!(names_server(v6, "[::1]:7000") && !names_server(v6, "127.0.0.1:7000"));
    }
}
