"""A line's hits are the line events a `sys.settrace` function receives for it, on every version:
each iteration of a loop that stays on one line counts, a generator resuming on its line counts.
Oracle: tests/tools/settrace_counter.py, the same program under plain python."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import SCRIPTS, TESTS, line_of, run, run_with_json

COUNTER = TESTS / "tools" / "settrace_counter.py"


def settrace_hits(tmp_path: Path, root: Path, argv: list, cwd: Path = SCRIPTS) -> tuple:
    out = tmp_path / "oracle.json"
    res = run([sys.executable, COUNTER, out, root, *argv], cwd=cwd)
    hits = {}
    for key, n in json.loads(out.read_text()).items():
        path, _, line = key.rpartition(":")
        hits[(path, int(line))] = n
    return res, hits


def refscope_hits(report: dict) -> dict:
    return {
        (os.path.realpath(f["path"]), l["line"]): l["hits"] for f in report["files"] for l in f["lines"] if l["hits"]
    }


def mismatches(want: dict, got: dict) -> list:
    keys = sorted(set(want) | set(got))
    return [f"{Path(p).name}:{l}: settrace {want.get((p, l), 0)}, refscope {got.get((p, l), 0)}" for p, l in keys
            if want.get((p, l), 0) != got.get((p, l), 0)]


SCRIPTS_COMPARED = [
    "hits_loops.py",
    "hits_shapes.py",
    "hits_settrace_restore.py",
    "hits_code_churn.py",
    "loops.py",
    "generators.py",
    "methods_lambdas.py",
    "exceptions.py",
    "threads.py",
    "asyncio_prog.py",
]


@pytest.mark.parametrize("script", SCRIPTS_COMPARED)
def test_hits_equal_a_settrace_line_counter(tmp_path, script):
    oracle_res, want = settrace_hits(tmp_path, SCRIPTS, [script])
    res, report = run_with_json(tmp_path, [script])
    assert res.returncode == oracle_res.returncode, res
    assert res.stdout == oracle_res.stdout
    assert want, "the oracle counted nothing"
    bad = mismatches(want, refscope_hits(report))
    assert not bad, "\n".join(bad)


def test_a_one_line_loop_counts_every_iteration(tmp_path):
    # 100 iterations on one line: one line event each (3.9 and 3.10 add one for the final test).
    prog = tmp_path / "one_line_loop.py"
    prog.write_text("k = 100\nwhile k: k -= 1\n")
    _, want = settrace_hits(tmp_path, tmp_path, [prog], cwd=tmp_path)
    _, report = run_with_json(tmp_path, [prog], cwd=tmp_path)
    got = refscope_hits(report)
    key = (os.path.realpath(prog), 2)
    assert got[key] == want[key] >= 100, (got, want)


def test_restoring_the_trace_function_keeps_refscope_measuring(tmp_path):
    res, report = run_with_json(tmp_path, ["hits_settrace_restore.py"])
    assert res.returncode == 0, res
    assert not report["outcome"]["partial"]
    hits = {l["line"]: l["hits"] for f in report["files"] for l in f["lines"]}
    # f's body ran three times, twice after the trace function was put back
    assert hits[line_of("hits_settrace_restore.py", "return 1")] == 3, hits


def test_the_program_sees_the_trace_functions_it_would_see_without_refscope():
    code = (
        "import sys, threading\n"
        "print(sys.gettrace(), getattr(threading, 'gettrace', lambda: None)())\n"
        "def t(*a): return t\n"
        "sys.settrace(t); threading.settrace(t)\n"
        "print(sys.gettrace() is t, getattr(threading, 'gettrace', lambda: t)() is t)\n"
        "sys.settrace(None); threading.settrace(None)\n"
        "print(sys.gettrace(), getattr(threading, 'gettrace', lambda: None)())\n"
    )
    plain = run([sys.executable, "-c", code])
    ours = run([sys.executable, "-m", "refscope", "run", "-q", "-c", code])
    assert plain.returncode == 0, plain
    assert ours.stdout == plain.stdout == "None None\nTrue True\nNone None\n", ours


def test_an_empty_program_runs_and_reports(tmp_path):
    # 3.11+ report an empty module's one line event on line 0.
    empty = tmp_path / "empty.py"
    empty.write_text("")
    for args in ([empty], ["-c", ""]):
        res, report = run_with_json(tmp_path, args)
        assert res.returncode == 0 and res.stderr == "", res
        assert report["outcome"]["status"] == "exited" and not report["outcome"]["partial"]
