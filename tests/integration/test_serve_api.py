"""`refscope serve`'s JSON API against a real server: the token, Host and Origin checks, each
endpoint's report against the CLI's for the same code, and the guard rails (time, memory,
processes, network, output), after each of which the server keeps serving."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time

import pytest
from conftest import REPO, Server, run, serve_leftovers

# The server and its guard rails are the same on every version: heavy, run on 3.11 and 3.13.
pytestmark = pytest.mark.skipif(sys.version_info[:2] not in ((3, 11), (3, 13)), reason="heavy: 3.11 and 3.13")

SNIPPET = "a = [1, 2, 3]\nb = a\nprint(b is a)\nfor i in range(5):\n    y = i * 2\ndel a\n"


@pytest.fixture(scope="module")
def server():
    s = Server("--time-limit", "3", "--jobs", "2", "--memory-limit", "512")
    yield s
    code, err = s.stop()
    assert code == 0, err
    assert "Traceback" not in err


def cli(tmp_path, *args, code=SNIPPET):
    """`refscope ARGS --json` in a directory holding snippet.py, as the server runs it."""
    (tmp_path / "snippet.py").write_text(code)
    out = tmp_path / "cli.json"
    res = run([sys.executable, "-m", "refscope", *args[:1], "--json", out, *args[1:]], cwd=tmp_path)
    assert out.exists(), str(res)
    return res, json.loads(out.read_text())


def test_every_request_needs_the_token(server):
    assert server.request("GET", "/api/info", token=False)[0] == 401
    status, _, doc = server.request("POST", "/api/run", {"code": "1"}, token=False)
    assert status == 401 and "token" in doc["error"] and doc["hint"]
    wrong = {"Authorization": "Bearer " + "0" * len(server.token)}
    assert server.request("POST", "/api/run", {"code": "1"}, headers=wrong, token=False)[0] == 401
    assert server.request("GET", "/results/x.html", token=False)[0] == 401
    assert server.request("GET", "/", token=False)[0] == 401
    assert server.request("GET", "/?token=nope", token=False)[0] == 401

    # First load: the token moves into an HttpOnly, SameSite=Strict cookie and out of the URL.
    status, headers, _ = server.request("GET", f"/?token={server.token}", token=False)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";", 1)[0]}
    assert cookie.startswith(f"refscope_token_{server.port}=")
    status, headers, page = server.request("GET", "/", headers=jar, token=False)
    assert status == 200 and "<textarea" in page
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert server.request("GET", "/api/info", headers=jar, token=False)[0] == 200
    # Another server's cookie beside it (browsers share cookies between ports) does not get in the way.
    both = {"Cookie": f"refscope_token_{server.port}=nope; " + jar["Cookie"] + "; refscope_token_1=x"}
    assert server.request("GET", "/api/info", headers=both, token=False)[0] == 200
    other = {"Cookie": f"refscope_token_{server.port + 1}={server.token}"}
    assert server.request("GET", "/api/info", headers=other, token=False)[0] == 401


def test_foreign_host_origin_and_bodies_are_refused(server):
    for host in ("evil.example", f"evil.example:{server.port}", f"127.0.0.1:{server.port + 1}", "localhost"):
        status, _, doc = server.request("GET", "/api/info", headers={"Host": host})
        assert status == 403, host
        assert "own address" in doc["error"]
    assert server.request("GET", "/api/info", headers={"Host": f"localhost:{server.port}"})[0] == 200
    for origin in ("http://evil.example", f"http://127.0.0.1:{server.port + 1}", "null", f"https://{server.host}"):
        assert server.request("POST", "/api/run", {"code": "1"}, headers={"Origin": origin})[0] == 403, origin
    assert server.request("GET", "/api/info", headers={"Origin": server.base})[0] == 200
    assert server.request("GET", "/api/info", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403

    # A form cannot post JSON: anything else is refused before it runs.
    status, _, doc = server.request("POST", "/api/run", "code=1", headers={"Content-Type": "text/plain"})
    assert status == 415 and doc["hint"]
    assert server.request("POST", "/api/run", "{not json")[0] == 400
    status, _, doc = server.request("POST", "/api/run", {"cod": "1"})
    assert status == 400 and "`cod`" in doc["error"] and "code" in doc["hint"]
    assert server.request("POST", "/api/size", {"code": "x = 1"})[0] == 400  # no expr
    assert server.request("POST", "/api/bench", {"code": "", "statements": []})[0] == 400
    assert server.request("POST", "/api/explain", {"code": "1", "max_steps": -4})[0] == 400
    assert server.request("POST", "/api/nope", {"code": "1"})[0] == 404
    status, _, doc = server.request("POST", "/api/run", {"code": "x" * 300_000})
    assert status == 413 and "KiB" in doc["error"]


def test_info_says_which_guards_hold(server):
    doc = server.request("GET", "/api/info")[2]
    assert doc["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert doc["limits"]["time_s"] == 3
    assert set(doc["guards"]) >= {"network", "processes", "session"}
    names = {s["name"] for s in doc["snippets"]}
    assert names == {p.stem for p in (REPO / "examples" / "lesson").glob("*.py")}
    assert all(s["tab"] in {"explain", "run", "size", "bench", "profile"} for s in doc["snippets"])


def test_run_equals_the_cli(server, tmp_path):
    doc = server.api("run", {"code": SNIPPET})
    assert doc["exit_code"] == 0 and doc["limit"] is None
    assert doc["stdout"] == "True\n" and doc["stderr"] == ""
    _, mine = cli(tmp_path, "run", "-q", "snippet.py")
    assert doc["report"]["schema"] == mine["schema"] == "refscope.run"

    def hits(rep):
        (f,) = [f for f in rep["files"] if f["path"].endswith("snippet.py")]
        return {l["line"]: l["hits"] for l in f["lines"]}

    assert hits(doc["report"]) == hits(mine)
    assert hits(mine)[5] == 5

    def calls(rep):
        return sorted((f["qualname"], f["calls"]) for f in rep["functions"])

    assert calls(doc["report"]) == calls(mine)
    assert list(doc["report"]) == list(mine)


def test_explain_equals_the_cli(server, tmp_path):
    doc = server.api("explain", {"code": SNIPPET})
    assert doc["exit_code"] == 0 and doc["stdout"] == "True\n"
    _, mine = cli(tmp_path, "explain", "-q", "snippet.py")
    rep = doc["report"]

    def story(r):
        return [
            (
                s["line"],
                [[b["name"] for b in f["bindings"]] for f in s["frames"]],
                # Real ids differ between two processes: the text with them taken out.
                [(e["kind"], re.sub(r"\b(id \d+|0x[0-9a-f]+)", "ID", e["text"])) for e in s["events"]],
            )
            for s in r["steps"]
        ]

    assert len(rep["steps"]) == len(mine["steps"]) > 5
    assert story(rep) == story(mine)
    assert rep["steps"][-1]["events"] == mine["steps"][-1]["events"]
    assert list(rep) == list(mine)  # the document as the CLI wrote it, key order too


def test_size_equals_the_cli(server, tmp_path):
    setup = "xs = [list(range(i)) for i in range(100)]"
    doc = server.api("size", {"code": setup, "expr": "xs"})
    assert doc["exit_code"] == 0 and doc["limit"] is None
    _, mine = cli(tmp_path, "size", "-q", "-s", setup, "xs")
    for k in ("shallow", "deep", "retained", "objects"):
        assert doc["report"][k] == mine[k], k


def test_bench_and_profile_equal_the_cli(server, tmp_path):
    doc = server.api("bench", {"code": "xs = list(range(1000))", "statements": ["sum(xs)", "[x for x in xs]"]})
    rep = doc["report"]
    _, mine = cli(
        tmp_path, "bench", "-q", "--time-budget", "0.6", "-s", "xs = list(range(1000))", "sum(xs)", "[x for x in xs]"
    )
    assert list(rep) == list(mine)
    assert [(s["label"], s["stmt"]) for s in rep["statements"]] == [(s["label"], s["stmt"]) for s in mine["statements"]]
    assert [(c["baseline"], c["label"]) for c in rep["comparisons"]] == [
        (c["baseline"], c["label"]) for c in mine["comparisons"]
    ]
    assert rep["schema"] == "refscope.bench" and [s["stmt"] for s in rep["statements"]] == [
        "sum(xs)",
        "[x for x in xs]",
    ]
    assert rep["comparisons"] and all(c["verdict"] for c in rep["comparisons"])

    code = "def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\nf(12)\n"
    doc = server.api("profile", {"code": code})
    _, mine = cli(tmp_path, "profile", "-q", "snippet.py", code=code)

    def calls(r):
        return {f["name"]: f["calls"] for f in r["functions"] if f["name"] == "f"}

    assert calls(doc["report"]) == calls(mine) == {"f": 465}


def test_the_result_page_is_kept_and_downloads(server):
    doc = server.api("explain", {"code": "x = [1]\ndel x\n"})
    status, headers, page = server.request("GET", doc["html"])
    assert status == 200 and "<title>refscope explain" in page
    assert "content-disposition" not in headers
    assert "frame-ancestors 'self'" in headers["content-security-policy"]
    status, headers, again = server.request("GET", doc["html"] + "?download=1")
    assert status == 200 and again == page
    assert headers["content-disposition"] == 'attachment; filename="refscope-explain.html"'
    assert server.request("GET", "/results/0000000000000000.html")[0] == 404


def test_a_syntax_error_or_a_crash_is_a_clear_answer(server):
    doc = server.api("run", {"code": "x = 1\ndef (:\n"})
    assert doc["report"] is None and doc["html"] is None and doc["exit_code"] == 1
    assert doc["stderr"].startswith("error: ") and "syntax error" in doc["stderr"]
    assert "Traceback" not in doc["stderr"] and "panicked" not in doc["stderr"]
    assert doc["limit"] is None
    # A program that kills itself: its report holds what ran until then.
    doc = server.api("run", {"code": "import os\nx = [1]\nos.abort()\n"})
    assert doc["exit_code"] == 128 + 6 and doc["limit"] is None
    assert doc["report"]["outcome"]["partial"] is True and doc["report"]["outcome"]["signal"] == "SIGABRT"
    still_serving(server)


def still_serving(server):
    doc = server.api("run", {"code": "print(6 * 7)"})
    assert doc["stdout"] == "42\n" and doc["exit_code"] == 0


def test_an_endless_loop_stops_at_the_time_limit_with_what_was_measured(server):
    t0 = time.monotonic()
    doc = server.api("run", {"code": "n = 0\nwhile True:\n    n += 1\n"})
    assert time.monotonic() - t0 < 3 + 8
    assert doc["limit"]["name"] == "time" and "3 s" in doc["limit"]["message"]
    assert doc["report"]["outcome"]["partial"] is True
    (f,) = [f for f in doc["report"]["files"] if f["path"].endswith("snippet.py")]
    assert {l["line"]: l["hits"] for l in f["lines"]}[3] > 1000
    # size has no --timeout of its own: the server stops it.
    doc = server.api("size", {"code": "while True: pass", "expr": "1"})
    assert doc["limit"]["name"] == "time" and doc["report"] is None
    # bench stops sampling within the limit and says why it has no sample.
    doc = server.api("bench", {"code": "", "statements": ["while True: pass"]})
    assert doc["exit_code"] == 1 and "no sample finished" in doc["stderr"]
    assert not serve_leftovers()
    still_serving(server)


def test_a_huge_allocation_meets_the_memory_limit(server):
    # 1 GiB: granted without a limit on this machine, refused under --memory-limit 512.
    doc = server.api("run", {"code": "x = bytearray(1 << 30)\n"})
    assert doc["limit"]["name"] == "memory" and "512 MiB" in doc["limit"]["message"]
    assert "MemoryError" in doc["stderr"] and doc["exit_code"] == 1
    assert doc["report"] is not None
    still_serving(server)


def test_what_a_program_prints_or_exits_with_is_not_a_limit(server):
    for code in (
        "import sys\nprint('MemoryError', file=sys.stderr)",
        "import sys\nprint('BlockingIOError: [Errno 11] SIGXCPU', file=sys.stderr)\nsys.exit(1)",
        "raise SystemExit(124)",
        "raise SystemExit(152)",
        "try:\n    bytearray(1 << 30)\nexcept MemoryError:\n    print('handled')",
    ):
        doc = server.api("run", {"code": code})
        assert doc["limit"] is None, (code, doc["limit"])
    assert doc["stdout"] == "handled\n"


def test_a_fork_bomb_meets_the_process_limit(server):
    guards = server.request("GET", "/api/info")[2]["guards"]
    if guards["processes"].startswith("not capped"):
        pytest.skip(guards["processes"])
    doc = server.api("run", {"code": "import os\nwhile True:\n    os.fork()\n"})
    assert doc["limit"]["name"] == "processes", doc["limit"]
    deadline = time.monotonic() + 10
    while serve_leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not serve_leftovers()
    still_serving(server)


def test_the_run_has_no_network(server):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')\n"
    doc = server.api("run", {"code": code})
    guards = server.request("GET", "/api/info")[2]["guards"]
    try:
        accepted = listener.accept()[0]
        accepted.close()
    except OSError:
        accepted = None
    listener.close()
    if not guards["network"].startswith("cut"):
        pytest.skip(guards["network"])
    assert accepted is None and "connected" not in doc["stdout"]
    assert "Network is unreachable" in doc["stderr"]
    assert doc["limit"]["name"] == "network"


def test_a_flood_of_output_is_cut_at_the_cap(server):
    code = "import sys\nfor i in range(100):\n    sys.stdout.write('x' * 1_000_000)\n"
    doc = server.api("run", {"code": code})
    assert doc["limit"]["name"] == "output"
    assert doc["stdout_truncated"] is True and len(doc["stdout"]) == 1 << 20
    assert doc["report"]["outcome"]["partial"] is True
    still_serving(server)


def test_twenty_runs_at_once_are_all_answered(server):
    res = run(
        [sys.executable, REPO / "benches" / "serve_load.py", "--url", server.url, "--runs", "20", "--json"],
        timeout=180,
    )
    assert res.returncode == 0, str(res)
    out = json.loads(res.stdout)
    assert out["answered"] == 20 and out["ok"] == 20, out
    assert not serve_leftovers()


def started() -> bool:
    """A run's program has written `started` in its directory."""
    tmp = os.environ.get("TMPDIR", "/tmp")
    return any(
        os.path.exists(os.path.join(tmp, d, "started")) for d in os.listdir(tmp) if d.startswith("refscope-serve-")
    )


def test_ctrl_c_stops_the_server_and_its_runs():
    with Server("--time-limit", "30") as s:
        ctrl_c_mid_run(s)


def ctrl_c_mid_run(s):
    answer = {}

    def long_run():
        code = "import time\nopen('started', 'w').close()\nwhile True:\n    time.sleep(0.01)\n"
        answer["doc"] = s.request("POST", "/api/run", {"code": code})

    t = threading.Thread(target=long_run)
    t.start()
    # Stopped once the program runs (stopped while refscope starts, a run has nothing to report).
    deadline = time.monotonic() + 20
    while not started() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started()
    t0 = time.monotonic()
    code, err = s.stop()
    t.join(30)
    assert code == 0 and "stopped" in err and time.monotonic() - t0 < 15
    status, _, doc = answer["doc"]
    assert status == 200 and doc["limit"]["name"] == "stopped" and doc["report"]["outcome"]["partial"]
    assert not serve_leftovers()


def test_bad_options_get_one_error_line(tmp_path):
    res = run([sys.executable, "-m", "refscope", "serve", "--host", "not-an-address", "--no-browser"])
    assert res.returncode == 1 and res.stderr.startswith("error:") and "not an IP address" in res.stderr
    assert "Traceback" not in res.stderr and "panicked" not in res.stderr
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    res = run([sys.executable, "-m", "refscope", "serve", "--port", str(port), "--no-browser"], timeout=20)
    busy.close()
    assert res.returncode == 1 and "cannot listen on" in res.stderr and "--port 0" in res.stderr
    res = run([sys.executable, "-m", "refscope", "serve", "--time-limit", "0", "--no-browser"])
    assert res.returncode == 1 and "seconds" in res.stderr


def test_listening_beyond_loopback_warns():
    s = Server("--host", "0.0.0.0")
    try:
        assert s.host.startswith("127.0.0.1:")
        assert s.request("GET", "/api/info")[0] == 200
    finally:
        code, err = s.stop()
    assert code == 0 and "warning:" in err and "0.0.0.0" in err


def test_no_run_directory_is_left(server):
    tmp = os.environ.get("TMPDIR", "/tmp")
    before = {p for p in os.listdir(tmp) if p.startswith("refscope-serve-")}
    server.api("run", {"code": "open('made.txt', 'w').write('x')"})
    after = {p for p in os.listdir(tmp) if p.startswith("refscope-serve-")}
    assert after <= before


def test_a_killed_server_leaves_no_run_behind():
    with Server("--time-limit", "60") as s:
        killed_mid_run(s)


def killed_mid_run(s):

    def sleeper():
        try:
            s.request("POST", "/api/run", {"code": "import time\ntime.sleep(60)\n"})
        except OSError:
            pass  # the server is killed under it

    t = threading.Thread(target=sleeper, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not serve_leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    dirs = {os.readlink(f"/proc/{p}/cwd") for p in serve_leftovers()}
    assert dirs
    s.proc.kill()
    s.proc.wait()
    deadline = time.monotonic() + 10
    while serve_leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not serve_leftovers()
    # The next server removes the directories the killed one could not.
    again = Server()
    try:
        assert not any(os.path.exists(d) for d in dirs)
    finally:
        again.stop()


def test_a_full_queue_answers_503_and_a_half_sent_request_does_not_hold_ctrl_c():
    s = Server("--jobs", "1", "--time-limit", "30")
    held = []
    try:
        threading.Thread(
            target=lambda: s.request("POST", "/api/run", {"code": "import time\ntime.sleep(30)"}), daemon=True
        ).start()
        time.sleep(0.5)
        body = json.dumps({"code": "pass"}).encode()
        head = (
            f"POST /api/run HTTP/1.1\r\nHost: {s.host}\r\nAuthorization: Bearer {s.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        for _ in range(64):  # each waits for the one slot
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(head + body)
            held.append(c)
        time.sleep(2)  # the server reads all 64 (a request sent before that would queue, not be refused)
        status, _, doc = s.request("POST", "/api/run", {"code": "pass"})
        assert status == 503 and "waiting" in doc["error"]
        half = socket.create_connection(("127.0.0.1", s.port))
        half.sendall(f"GET /api/info HTTP/1.1\r\nHost: {s.host}\r\n".encode())  # never finished
        held.append(half)
        t0 = time.monotonic()
        code, err = s.stop()
        assert code == 0 and time.monotonic() - t0 < 20, err
    finally:
        for c in held:
            c.close()
        s.stop()
    deadline = time.monotonic() + 10
    while serve_leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not serve_leftovers()
