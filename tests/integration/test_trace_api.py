"""`refscope.trace()`: a block of the caller's own process, measured as `refscope run` measures a
program, with the same figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import refscope
from conftest import SCRIPTS, line_of, run_with_json

WORK = SCRIPTS / "trace_work.py"


def python(code: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=120
    )


def hits_by_line(report: dict, name: str) -> dict:
    (f,) = [f for f in report["files"] if f["display"].endswith(name)]
    return {x["line"]: x["hits"] for x in f["lines"]}


def test_the_figures_of_a_block_equal_refscope_runs(tmp_path):
    _, ran = run_with_json(tmp_path, [WORK])
    res = subprocess.run([sys.executable, WORK, "trace"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    traced = json.loads(res.stdout)
    want, got = hits_by_line(ran, "trace_work.py"), hits_by_line(traced, "trace_work.py")
    # Every line of work() and fib() ran as often in the block as in the program.
    text = WORK.read_text().splitlines()
    body = [
        n
        for n in range(line_of(WORK, "def work(n):"), line_of(WORK, 'if __name__ == "__main__":'))
        if not text[n - 1].startswith("def ")  # a def runs with the module, before the block
    ]
    assert {n: h for n, h in got.items() if n in body} == {n: h for n, h in want.items() if n in body}
    assert got[line_of(WORK, "return n if n < 2")] == 465
    fns = {f["name"]: f["calls"] for f in traced["functions"]}
    assert fns["fib"] == 465 and fns["work"] == 1
    # Memory: the line that builds the strings allocates about as much either way.
    line = line_of(WORK, "words.append(str(i) * 2)")
    a, b = (
        next(
            x["alloc_bytes"]
            for f in rep["files"]
            if f["display"].endswith("trace_work.py")
            for x in f["lines"]
            if x["line"] == line
        )
        for rep in (ran, traced)
    )
    assert a > 3000 * 50 and abs(a - b) <= 0.1 * a, (a, b)
    assert traced["program"]["kind"] == "block" and traced["outcome"]["description"] == "the block ran to its end"


def test_a_block_in_this_process_reports_its_lines_and_frees():
    def make(n):
        return [bytes(1000) for _ in range(n)]

    with refscope.trace() as t:
        kept = make(200)
        del kept
    r = t.report
    here = [x for x in r.lines if x["file"].endswith("test_trace_api.py")]
    by_src = {x["source"].strip(): x for x in here}
    made = by_src["return [bytes(1000) for _ in range(n)]"]
    assert made["hits"] >= 200 and made["alloc_bytes"] >= 200 * 1000
    assert by_src["del kept"]["freed_bytes"] >= 200 * 1000
    assert r.memory["total"]["alloc_bytes"] >= 200_000
    assert "the block ran to its end" in repr(r)
    page = r.to_html()
    assert page.startswith("<!doctype html>") and "kept = make(200)" in page
    assert r._repr_html_().startswith('<div class="refscope-output"') and "srcdoc=" in r._repr_html_()
    bundle = r._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "application/vnd.refscope.run+json"}
    assert bundle["application/vnd.refscope.run+json"]["schema"] == "refscope.run"


def test_an_exception_in_the_block_propagates_and_is_reported():
    with pytest.raises(ZeroDivisionError):
        with refscope.trace() as t:
            x = 1
            x / 0
    assert t.report.to_dict()["outcome"]["description"].startswith("the block raised ZeroDivisionError")


def test_one_block_at_a_time_and_each_trace_runs_once():
    t = refscope.trace()
    with t:
        with pytest.raises(RuntimeError, match="one block at a time"):
            with refscope.trace():
                pass
        with pytest.raises(RuntimeError, match="has not ended yet"):
            _ = t.report
    with pytest.raises(RuntimeError, match="already run"):
        with t:
            pass
    # Later blocks measure afresh: code seen by an earlier block is traced again.
    for _ in range(3):
        with refscope.trace() as again:
            total = sum(i for i in range(10))
        assert total == 45
        assert any(x["source"].strip() == "total = sum(i for i in range(10))" for x in again.report.lines)


def test_nothing_is_left_behind_and_hooks_come_off():
    before = sys.gettrace()
    with refscope.trace():
        pass
    assert sys.gettrace() is before
    if sys.version_info >= (3, 12):
        assert all(sys.monitoring.get_tool(i) is None or sys.monitoring.get_tool(i) != "refscope" for i in range(6))
    res = python(
        """
        import gc, refscope
        n = len(gc.callbacks)
        with refscope.trace():
            xs = [object() for _ in range(1000)]
        assert len(gc.callbacks) == n, gc.callbacks
        print("ok")
        """
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ traces through sys.monitoring, beside other tools")
def test_another_trace_function_is_not_taken_on_older_pythons():
    res = python(
        """
        import sys, refscope
        sys.settrace(lambda *a: None)
        try:
            with refscope.trace():
                pass
        except RuntimeError as e:
            print(e)
        """
    )
    assert "another trace or profile function is set" in res.stdout, res


def test_a_fork_inside_the_block_leaves_the_parents_figures_alone():
    res = python(
        """
        import os, json, refscope
        with refscope.trace() as t:
            for i in range(3):
                pid = os.fork()
                if pid == 0:
                    total = sum(range(100000))
                    os._exit(0)
                os.waitpid(pid, 0)
            done = 1
        print(json.dumps([(l["line"], l["hits"]) for l in t.report.lines]))
        """
    )
    assert res.returncode == 0, res.stderr
    hits = dict(json.loads(res.stdout))
    assert hits[6] == 3, hits  # the fork line, in the parent only
    assert 8 not in hits, "the children's lines are not the parent's"


def test_code_run_as_a_cell_is_traced_with_its_source(tmp_path):
    src = "def double(x):\n    return 2 * x\n\nys = [double(i) for i in range(50)]\n"
    name = str(tmp_path / "cell-1.py")
    code = compile(src, name, "exec")
    ns: dict = {}
    with refscope._refscope._trace_code(code, name, src) as t:
        exec(code, ns)
    assert ns["ys"][-1] == 98
    (f,) = t.report.to_dict()["files"]
    hits = {x["line"]: x["hits"] for x in f["lines"]}
    assert hits[2] == 50 and f["lines"][0]["source"].strip() == "def double(x):"
    assert "return 2 * x" in t.report.to_html()
    assert not os.path.exists(name)


def test_profile_a_callable_and_code_in_this_process():
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    p = refscope.profile(fib, 12)
    assert p.value == 144
    calls = {f["name"].split(".")[-1]: f["calls"] for f in p.functions}
    assert calls["fib"] == 465
    assert "fib" in repr(p) and p.to_html().startswith("<!doctype html>")
    # Code runs in the caller's globals.
    q = refscope.profile("total = sum(_calls(k) for k in range(8))")
    assert {f["name"]: f["calls"] for f in q.functions}["_calls"] == sum(_calls(k) for k in range(8))
    assert set(q._repr_mimebundle_()) == {"text/plain", "text/html", "application/vnd.refscope.profile+json"}


def _calls(n):
    return 1 if n < 2 else 1 + _calls(n - 1) + _calls(n - 2)


def test_profile_dump_stats_reads_in_pstats(tmp_path):
    import pstats

    p = refscope.profile(_calls, 10)
    assert p.value == _calls(10)
    p.dump_stats(str(tmp_path / "out.prof"))
    stats = pstats.Stats(str(tmp_path / "out.prof"))
    assert stats.total_calls == _calls(10)


def test_explain_and_the_pages_of_size_and_bench():
    e = refscope.explain("a = [1]\nb = a\n")
    assert len(e.steps) == 2 and "aliased" in repr(e)
    assert e.to_html().startswith("<!doctype html>")
    s = refscope.size([list(range(10))] * 3)
    assert s.to_html().startswith("<!doctype html>") and "Largest parts" in s.to_html()
    assert set(s._repr_mimebundle_()) == {"text/plain", "text/html", "application/vnd.refscope.size+json"}
    b = refscope.bench(lambda: sum(range(10)), time_budget=0.2)
    assert "Every sample" in b.to_html() and b._repr_html_().startswith('<div class="refscope-output"')
