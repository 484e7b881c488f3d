"""`refscope profile`: the flame chart (calls in the order they ran) and the page's source lines.

The chart's spans are checked against the call tree of the same run: a small program keeps every
call (a node's spans are its calls, their lengths add up to its total), a big one keeps the
longest calls and, with each, the calls it ran inside.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import SCRIPTS, page_data, run

REFSCOPE = [sys.executable, "-m", "refscope"]
BUDGET = 20_000  # the longest calls the chart keeps


def profile(tmp_path: Path, args, flags=(), **kw):
    out = tmp_path / "profile.json"
    res = run([*REFSCOPE, "profile", "-q", "--json", out, *flags, *args], **kw)
    assert out.exists(), res
    return res, json.loads(out.read_text(encoding="utf-8"))


def callers_contain(report: dict) -> list:
    """Spans not inside a span of their parent node (on the same thread's clock)."""
    nodes = report["nodes"]
    by_node: dict = {}
    for s in report["chart"]["spans"]:
        by_node.setdefault(s["node"], []).append(s)
    bad = []
    for s in report["chart"]["spans"]:
        parent = nodes[s["node"]]["parent"]
        if nodes[parent]["function"] is None:
            continue
        # Each end is rounded to ns on its own.
        around = by_node.get(parent, [])
        if not any(p["start_ns"] <= s["start_ns"] + 1 and s["end_ns"] <= p["end_ns"] + 1 for p in around):
            bad.append(s)
    return bad


def test_a_small_program_keeps_every_call_in_order(tmp_path):
    res, r = profile(tmp_path, ["profile_recursion.py"])
    assert res.returncode == 0, res
    chart = r["chart"]
    assert set(chart) == {"recorded", "min_ns", "spans"}
    assert chart["recorded"] is True and chart["min_ns"] == 0
    spans = chart["spans"]
    assert spans and all(set(s) == {"node", "start_ns", "end_ns"} for s in spans)
    assert all(s["start_ns"] <= s["end_ns"] <= r["wall_ns"] for s in spans)
    ends = [s["end_ns"] for s in spans]
    assert ends == sorted(ends), "spans are listed in the order the calls ended"
    for n in r["nodes"]:
        if n["function"] is None:
            continue
        mine = [s for s in spans if s["node"] == n["id"]]
        assert len(mine) == n["calls"], (r["functions"][n["function"]]["name"], n, len(mine))
        length = sum(s["end_ns"] - s["start_ns"] for s in mine)
        assert abs(length - n["total_ns"]) <= 2 * len(mine) + 1, (n, length)
    assert callers_contain(r) == []
    fib = next(f for f in r["functions"] if f["name"] == "fib")
    assert sum(1 for s in spans if r["nodes"][s["node"]]["function"] == fib["id"]) == 1973


def test_a_big_program_keeps_the_longest_calls_with_their_callers(tmp_path):
    script = tmp_path / "big.py"
    script.write_text(
        "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\n\nprint(fib(22))\n", encoding="utf-8"
    )
    res, r = profile(tmp_path, [script], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "17711\n", res
    chart = r["chart"]
    [fib] = [f for f in r["functions"] if f["name"] == "fib"]
    assert fib["calls"] == 57313 > BUDGET
    spans = chart["spans"]
    assert chart["recorded"] is True and chart["min_ns"] > 0
    assert 0 < len(spans) <= BUDGET
    assert all(s["end_ns"] - s["start_ns"] + 1 >= chart["min_ns"] for s in spans)
    assert callers_contain(r) == []
    # The longest calls are the outermost: the module's and the first fib's are kept.
    module = next(f for f in r["functions"] if f["name"] == "<module>")
    assert any(r["nodes"][s["node"]]["function"] == module["id"] for s in spans)
    top = max(spans, key=lambda s: s["end_ns"] - s["start_ns"])
    assert r["nodes"][top["node"]]["function"] == module["id"]


def test_every_thread_has_its_own_spans(tmp_path):
    res, r = profile(tmp_path, ["profile_threads.py"])
    assert res.returncode == 0, res
    threads = {r["nodes"][s["node"]]["thread"] for s in r["chart"]["spans"]}
    assert len(threads) == len(r["threads"]) > 1
    assert callers_contain(r) == []


def test_a_stopped_program_says_the_chart_was_not_written(tmp_path):
    html = tmp_path / "p.html"
    res, r = profile(tmp_path, ["sleeper.py"], ["--timeout", "1", "--html", html])
    assert res.returncode == 124, res
    assert r["outcome"]["partial"] is True
    assert r["chart"] == {"recorded": False, "min_ns": 0, "spans": []}
    assert page_data(html.read_text(encoding="utf-8"))["chart"]["recorded"] is False


def test_the_page_holds_your_sources_and_the_run_reports_lines(tmp_path):
    run_json, html = tmp_path / "run.json", tmp_path / "p.html"
    res = run([*REFSCOPE, "run", "-q", "--json", run_json, "profile_recursion.py"])
    assert res.returncode == 0, res
    res = run([*REFSCOPE, "profile", "-q", "--html", html, "--lines-from", run_json, "profile_recursion.py"])
    assert res.returncode == 0 and res.stdout.startswith("fib 610\n"), res
    data = page_data(html.read_text(encoding="utf-8"))
    [src] = data["sources"]
    assert src["file"] == "profile_recursion.py"
    assert src["text"] == (SCRIPTS / "profile_recursion.py").read_text(encoding="utf-8").splitlines()
    want = {l["line"]: l["hits"] for f in json.loads(run_json.read_text())["files"] for l in f["lines"]}
    assert {l["line"]: l["hits"] for l in src["lines"]} == want
    fib_body = src["text"].index("    return fib(n - 1) + fib(n - 2)") + 1
    assert want[fib_body] == (1973 - 1) // 2, "fib(n) for n >= 2"


def test_lines_from_without_a_run_report_is_refused_before_the_program_runs(tmp_path):
    html = tmp_path / "p.html"
    not_run = tmp_path / "profile.json"
    not_run.write_text(json.dumps({"schema": "refscope.profile", "schema_version": 1}))
    cases = [(not_run, "refscope.profile", True), (tmp_path / "missing.json", "cannot be read", False)]
    for given, says, hint in cases:
        res = run([*REFSCOPE, "profile", "--html", html, "--lines-from", given, "profile_exit.py"])
        assert res.returncode == 1, res
        assert res.stdout == "", "the program never ran"
        lines = res.stderr.rstrip("\n").splitlines()
        assert lines[0].startswith("error: ") and says in lines[0], res
        assert len(lines) == 1 + hint, res
        assert not hint or (lines[1].startswith("  hint: ") and "refscope run --json" in lines[1]), res
        assert not html.exists()
