"""Programs that trace keep working exactly as under plain python, and refscope keeps measuring
(or says from where it could not): `sys.settrace`/`gettrace`, `threading.settrace`, the `trace`
module, doctest, pdb, coverage."""

from __future__ import annotations

import sys

import pytest
from conftest import line_of, run_python, run_with_json, script_file


def same_as_python(tmp_path, args, stdin=None):
    plain = run_python(args, stdin=stdin)
    res, report = run_with_json(tmp_path, args, stdin=stdin)
    assert (res.returncode, res.stdout, res.stderr) == (plain.returncode, plain.stdout, plain.stderr), (
        f"--- python\n{plain}\n--- refscope\n{res}"
    )
    return report


def hits(report, script):
    return {l["line"]: l["hits"] for l in script_file(report, script)["lines"]}


def test_the_trace_module_counts_as_under_python_and_refscope_goes_on(tmp_path):
    report = same_as_python(tmp_path, ["tracer_trace_module.py"])
    h = hits(report, "tracer_trace_module.py")
    assert h[line_of("tracer_trace_module.py", "total += i")] == 5 + 3
    assert not report["outcome"]["partial"]


def test_doctest_runs_and_refscope_measures_after_it(tmp_path):
    report = same_as_python(tmp_path, ["tracer_doctest.py"])
    h = hits(report, "tracer_doctest.py")
    assert h[line_of("tracer_doctest.py", "s += double(i)")] == 10
    assert h[line_of("tracer_doctest.py", "return 2 * x")] == 1 + 3 + 10
    assert not report["outcome"]["partial"]


def test_a_trace_function_that_raises_behaves_as_under_python(tmp_path):
    report = same_as_python(tmp_path, ["tracer_raises.py"])
    assert hits(report, "tracer_raises.py")[line_of("tracer_raises.py", "return x")] == 1


def test_threading_settrace_reaches_every_new_thread(tmp_path):
    report = same_as_python(tmp_path, ["tracer_threads.py"])
    assert hits(report, "tracer_threads.py")[line_of("tracer_threads.py", "return sum(range(100))")] == 3


def test_pdb_steps_as_under_python(tmp_path):
    # pdb.run, not pdb.set_trace: on 3.13.0 set_trace() stops on its own line only when no
    # sys.monitoring tool is active (any tool, refscope's or coverage's, makes it stop on the
    # next line): a CPython behaviour refscope cannot change, documented in docs/run.md.
    report = same_as_python(tmp_path, ["tracer_pdb.py"], stdin="s\nn\nn\np 6 * 7\nc\n")
    h = hits(report, "tracer_pdb.py")
    assert h[line_of("tracer_pdb.py", "c = b + 1")] == 1
    assert h[line_of("tracer_pdb.py", 'print("done")')] == 1


coverage = pytest.importorskip("coverage")

CORES = ["pytrace", "ctrace"] + (["sysmon"] if sys.version_info >= (3, 12) else [])


@pytest.mark.parametrize("core", CORES)
def test_coverage_inside_refscope(tmp_path, monkeypatch, core):
    """coverage measures the same lines as under plain python; refscope measures too, except
    where coverage's C tracer takes the one trace hook of 3.9-3.11: the report says so."""
    monkeypatch.setenv("COVERAGE_CORE", core)
    data = tmp_path / "cov"
    args = ["-m", "coverage", "run", f"--data-file={data}", "loops.py"]
    plain = run_python(args)
    assert plain.returncode == 0, plain
    want = run_python(["-m", "coverage", "report", f"--data-file={data}", "--show-missing"]).stdout
    res, report = run_with_json(tmp_path, args)
    assert (res.returncode, res.stdout) == (plain.returncode, plain.stdout), res
    got = run_python(["-m", "coverage", "report", f"--data-file={data}", "--show-missing"]).stdout
    assert got == want
    loops = [f for f in report["files"] if f["path"].endswith("loops.py")]
    if core == "ctrace" and sys.version_info < (3, 12):
        u = report["outcome"]["unmeasured"]
        assert report["outcome"]["partial"] and u and "PyEval_SetTrace" in u["reason"], report["outcome"]
    else:
        assert report["outcome"]["unmeasured"] is None and not report["outcome"]["partial"]
        assert loops and sum(l["hits"] for l in loops[0]["lines"]) > 100


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")
def test_cprofile_inside_refscope_keeps_its_tool_id(tmp_path):
    # cProfile takes sys.monitoring's profiler id on 3.12+; refscope leaves it free.
    res, report = run_with_json(tmp_path, ["-m", "cProfile", "-s", "ncalls", "loops.py"])
    assert res.returncode == 0, res
    assert "function calls" in res.stdout and "triangle" in res.stdout
    assert report["outcome"]["unmeasured"] is None
    assert sum(l["hits"] for l in script_file(report, "loops.py")["lines"]) > 100


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")
def test_every_tool_id_taken_runs_the_program_and_says_nothing_was_measured(tmp_path):
    import json
    import os
    import subprocess

    from conftest import SCRIPTS, environment

    env = environment()
    env["PYTHONPATH"] = str(SCRIPTS / "taken_tool_ids")
    out = tmp_path / "r.json"
    p = subprocess.run(
        [sys.executable, "-m", "refscope", "run", "--json", out, "loops.py"],
        cwd=SCRIPTS, env=env, capture_output=True, text=True, timeout=60,
    )
    plain = subprocess.run([sys.executable, "loops.py"], cwd=SCRIPTS, env=env, capture_output=True, text=True)
    assert (p.returncode, p.stdout) == (plain.returncode, plain.stdout), p
    report = json.loads(out.read_text())
    u = report["outcome"]["unmeasured"]
    assert u and u["after"] is None and "tool ids" in u["reason"], report["outcome"]
    assert report["outcome"]["partial"]
    assert "refscope stopped measuring" in p.stderr and "tool ids" in p.stderr
    assert os.path.exists(out)
