"""Helpers for running `refscope run` (and plain `python`) the way a user would.

Everything runs in a subprocess of the interpreter running pytest (`sys.executable`), which has
refscope installed: `python -m refscope run ...` is exactly what the `refscope` console script does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SCRIPTS = TESTS / "scripts"
SNAPSHOTS = TESTS / "snapshots"

# No test waits on a program longer than this; a hang fails the test instead of the suite.
SUBPROCESS_TIMEOUT = 60


@dataclass
class Result:
    args: list
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"$ {' '.join(map(str, self.args))}\n"
            f"exit code {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def environment() -> dict:
    """The environment every program runs in: the caller's, minus what would make output vary."""
    env = dict(os.environ)
    for var in ("FORCE_COLOR", "CLICOLOR_FORCE", "PYTHON_COLORS", "PYTHONSTARTUP", "REFSCOPE_WORKER"):
        env.pop(var, None)
    env["NO_COLOR"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ left in tests/scripts
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run(
    argv: Sequence,
    *,
    stdin: str | None = None,
    cwd: os.PathLike | None = None,
    timeout: float = SUBPROCESS_TIMEOUT,
    env: dict | None = None,
) -> Result:
    """ARGV in `environment()`, updated with ENV (cwd: tests/scripts by default)."""
    args = [str(a) for a in argv]
    p = subprocess.run(
        args,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        errors="replace",
        cwd=str(cwd if cwd is not None else SCRIPTS),
        env={**environment(), **(env or {})},
        timeout=timeout,
    )
    return Result(args, p.returncode, p.stdout, p.stderr)


def run_python(args: Sequence, **kw) -> Result:
    """`python ARGS...` on the interpreter running the tests (cwd: tests/scripts by default)."""
    return run([sys.executable, *args], **kw)


def run_refscope(args: Sequence, **kw) -> Result:
    """`refscope run ARGS...` (cwd: tests/scripts by default)."""
    return run([sys.executable, "-m", "refscope", "run", *args], **kw)


def run_with_json(tmp_path: Path, args: Sequence, *, quiet: bool = True, **kw):
    """`refscope run [-q] --json FILE ARGS...`; returns the result and the loaded report."""
    out = tmp_path / "report.json"
    if out.exists():
        out.unlink()
    flags = ["-q"] if quiet else []
    res = run_refscope([*flags, "--json", out, *args], **kw)
    assert out.exists(), f"no JSON report written\n{res}"
    with open(out, encoding="utf-8") as f:
        return res, json.load(f)


def script_file(report: dict, name: str) -> dict:
    """The `files[]` entry of the script `name` (matched on the file name)."""
    found = [f for f in report["files"] if Path(f["path"]).name == name]
    assert len(found) == 1, f"{name} not (or more than once) in {[f['path'] for f in report['files']]}"
    return found[0]


def line_hits(report: dict, name: str) -> dict:
    """{line number: hits} for the file `name` in a report."""
    return {l["line"]: l["hits"] for l in script_file(report, name)["lines"]}


def line_of(name: str, text: str) -> int:
    """The number of the one line of tests/scripts/NAME that contains `text` (comments ignored)."""
    lines = (SCRIPTS / name).read_text(encoding="utf-8").splitlines()
    found = [i + 1 for i, l in enumerate(lines) if text in l and not l.lstrip().startswith("#")]
    assert len(found) == 1, f"{text!r} found on lines {found} of {name}"
    return found[0]


def page_data(html: str) -> dict:
    """The data a refscope HTML page carries for its scripts."""
    start = html.index('<script type="application/json" id="refscope-data">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)].replace("<\\/", "</"))


def process_gone(pid: int, within: float = 10.0) -> bool:
    """True once process PID has ended (a zombie has), waiting up to WITHIN seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].startswith("Z"):
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def functions_by_name(report: dict) -> dict:
    """{name: [function entries]} (several entries share a name: lambdas, same-named methods)."""
    out: dict = {}
    for fn in report["functions"]:
        out.setdefault(fn["name"], []).append(fn)
    return out


def pytest_addoption(parser):
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite the golden files in tests/snapshots/ (same as REFSCOPE_UPDATE_SNAPSHOTS=1)",
    )
    parser.addoption(
        "--screenshots",
        action="store_true",
        help="browser tests save each HTML page as docs/images/<command>.png",
    )


@pytest.fixture
def update_snapshots(request) -> bool:
    return bool(request.config.getoption("--update-snapshots")) or os.environ.get(
        "REFSCOPE_UPDATE_SNAPSHOTS", ""
    ) not in ("", "0")


@pytest.fixture
def refscope_json(tmp_path):
    """`refscope_json(args, quiet=True, stdin=..., cwd=...)` -> (Result, report dict)."""

    def go(args, **kw):
        return run_with_json(tmp_path, args, **kw)

    return go


# --- a real headless Chromium (Debian's, never a downloaded one) driven by Playwright ----------

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does)"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page that records console errors and every request it makes."""
    context = browser.new_context(viewport={"width": 1300, "height": 800})
    pg = context.new_page()
    pg.errors = []
    pg.requests = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    yield pg
    context.close()


# --- refscope serve, started as a user would, on a free port ---------------------------------


class Server:
    """`refscope serve --port 0 --no-browser ARGS`: its URL, token and a JSON client."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "refscope", "serve", "--port", "0", "--no-browser", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
        )
        first = self.proc.stdout.readline()
        assert first.startswith("refscope serve: http://"), f"first line: {first!r}; stderr: {self.proc.stderr.read()}"
        self.url = first.split(": ", 1)[1].strip()
        self.base = self.url.split("/?", 1)[0]
        self.host = self.base.removeprefix("http://")
        self.port = int(self.base.rsplit(":", 1)[1])
        self.token = self.url.split("token=", 1)[1]

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def request(self, method: str, path: str, body=None, headers: dict | None = None, token: bool = True):
        """(status, headers, parsed JSON or text) of one request."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=SUBPROCESS_TIMEOUT)
        h = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read().decode("utf-8", "replace")
        conn.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed

    def api(self, command: str, body: dict) -> dict:
        status, _, doc = self.request("POST", f"/api/{command}", body)
        assert status == 200, (status, doc)
        return doc

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, as at the terminal; returns (exit code, stderr)."""
        import signal

        if getattr(self, "stopped", None) is not None:
            return self.stopped
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stopped = (self.proc.returncode, err)
        return self.stopped


def serve_leftovers() -> list[int]:
    """Processes still working in a run directory of refscope serve."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cwd = os.readlink(p / "cwd")
        except OSError:
            continue
        if "/refscope-serve-" in cwd:
            found.append(int(p.name))
    return found
