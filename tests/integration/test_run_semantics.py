"""What the numbers mean: what time is charged to a line or function, and what counts as a call.

The time checks are about what is charged, not about speed: the only thresholds are the sleeps
the scripts do (0.3 s in total) against figures that must be near zero or at least that long.
"""

from __future__ import annotations

import os
import sys

import pytest
from conftest import SCRIPTS, functions_by_name, line_hits, line_of, run_with_json, script_file

SLEPT_NS = 300_000_000  # suspended_gen.py and async_sleep.py each sleep 0.3 s in total
NEAR_ZERO_NS = 100_000_000  # far below that: what a few cheap lines can take even on a slow CI


def line_time(report, script, text):
    number = line_of(script, text)
    rows = [l for l in script_file(report, script)["lines"] if l["line"] == number]
    assert rows, f"{script}:{number} ({text}) not in the report"
    return rows[0]["time_ns"]


def only(report, name):
    found = functions_by_name(report).get(name, [])
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


@pytest.mark.parametrize(
    "args",
    [
        ["recursion.py", "20"],
        ["threads.py"],
        ["generators.py"],
        ["suspended_gen.py"],
        ["asyncio_prog.py"],
        ["exceptions.py"],
        ["methods_lambdas.py"],
    ],
    ids=lambda a: a[0],
)
def test_no_line_or_function_is_charged_more_than_the_run(refscope_json, args):
    res, report = refscope_json(args)
    assert res.returncode == 0, res
    wall = report["wall_ns"]
    assert wall > 0
    over = [
        (f["display"], l["line"], l["time_ns"]) for f in report["files"] for l in f["lines"] if l["time_ns"] > wall
    ]
    over += [(f["qualname"], f["line"], f["total_ns"]) for f in report["functions"] if f["total_ns"] > wall]
    assert not over, f"charged more than wall_ns={wall}: {over}"


def test_recursion_is_not_double_counted(refscope_json):
    res, report = refscope_json(["recursion.py", "20"])
    assert res.returncode == 0, res
    fib = only(report, "fib")
    assert fib["calls"] == 21891
    recursive_line = line_time(report, "recursion.py", "return fib(n - 1) + fib(n - 2)")
    # 10945 nested runs of that line: counted once, it fits inside fib's time and the run.
    assert 0 < recursive_line <= fib["total_ns"] <= report["wall_ns"]
    assert fib["total_ns"] <= line_time(report, "recursion.py", 'print("fib", n, fib(n))')


def test_suspended_generator_is_not_charged_for_its_consumers_sleep(refscope_json):
    res, report = refscope_json(["suspended_gen.py"])
    assert res.returncode == 0, res
    assert res.stdout == "total 3\n"
    assert line_time(report, "suspended_gen.py", "time.sleep(0.1)") >= SLEPT_NS
    assert line_time(report, "suspended_gen.py", "yield i") < NEAR_ZERO_NS
    produce = only(report, "produce")
    assert produce["calls"] == 1  # one generator, resumed four times
    assert produce["total_ns"] < NEAR_ZERO_NS
    assert only(report, "consume")["total_ns"] >= SLEPT_NS


def test_awaiting_coroutine_is_not_charged_while_suspended(refscope_json):
    res, report = refscope_json(["async_sleep.py"])
    assert res.returncode == 0, res
    assert res.stdout == "rested\n"
    assert line_time(report, "async_sleep.py", "await asyncio.sleep(0.3)") < NEAR_ZERO_NS
    assert line_time(report, "async_sleep.py", "print(asyncio.run(nap()))") >= SLEPT_NS
    nap = only(report, "nap")
    assert nap["calls"] == 1
    assert nap["total_ns"] < NEAR_ZERO_NS


def test_lines_inside_thread_functions_are_counted(refscope_json):
    res, report = refscope_json(["threads.py"])
    assert res.returncode == 0, res
    hits = line_hits(report, "threads.py")
    # worker(name, n) for n = 1000, 2000, 3000
    assert hits[line_of("threads.py", "total += i")] == 6000
    assert hits[line_of("threads.py", "for i in range(n):")] == 6003
    assert hits[line_of("threads.py", "results[name] = total")] == 3
    assert only(report, "worker")["calls"] == 3


def test_recursive_function_counts_every_call(refscope_json):
    res, report = refscope_json(["recursion.py"])  # fib(15)
    assert res.returncode == 0, res
    assert only(report, "fib")["calls"] == 1973
    # mutual recursion is_even(25) -> is_odd(24) -> ... plus is_odd(25) -> ...: 13 + 13 each
    assert only(report, "is_even")["calls"] == 26
    assert only(report, "is_odd")["calls"] == 26
    assert only(report, "<module>")["calls"] == 1


def test_generator_counts_one_call_however_often_it_resumes(refscope_json):
    res, report = refscope_json(["generators.py"])
    assert res.returncode == 0, res
    assert only(report, "squares")["calls"] == 1  # resumed 11 times
    assert only(report, "first_words")["calls"] == 1
    assert only(report, "countdown")["calls"] == 2  # two generators: one consumed, one closed
    assert only(report, "main")["calls"] == 1
    hits = line_hits(report, "generators.py")
    assert hits[line_of("generators.py", "yield x * x")] == 10


def test_generators_dropped_while_suspended_still_count_one_call_each(refscope_json):
    res, report = refscope_json(["abandoned_gen.py"])
    assert (res.returncode, res.stdout) == (0, "first values 50\n"), res
    assert line_hits(report, "abandoned_gen.py")[line_of("abandoned_gen.py", "yield 1")] == 50
    assert only(report, "pair")["calls"] == 50


def test_coroutines_and_async_generators_count_one_call_each(refscope_json):
    res, report = refscope_json(["asyncio_prog.py"])
    assert res.returncode == 0, res
    assert only(report, "fetch")["calls"] == 3
    assert only(report, "ticker")["calls"] == 1
    assert only(report, "main")["calls"] == 1


def test_methods_lambdas_and_nested_functions_appear(refscope_json):
    res, report = refscope_json(["methods_lambdas.py"])
    assert res.returncode == 0, res
    fns = functions_by_name(report)
    calls = {name: sorted(f["calls"] for f in entries) for name, entries in fns.items()}
    assert calls["__init__"] == [1]
    assert calls["bump"] == [5]
    assert calls["doubled"] == [1]  # a property
    assert calls["describe"] == [1]  # a staticmethod
    assert calls["from_text"] == [1]  # a classmethod
    assert calls["make_adder"] == [1]
    assert calls["add"] == [3]  # a closure
    assert calls["apply_all"] == [1]
    assert calls["<lambda>"] == [3, 3]  # `square` and the sort key
    lambda_lines = sorted(f["line"] for f in fns["<lambda>"])
    assert lambda_lines == [
        line_of("methods_lambdas.py", "square = lambda"),
        line_of("methods_lambdas.py", "key=lambda"),
    ]
    qualnames = {f["qualname"] for f in report["functions"]}
    if sys.version_info >= (3, 11):
        wanted = {"Counter.bump", "Counter.doubled", "make_adder.<locals>.add", "apply_all.<locals>.<lambda>"}
        assert wanted <= qualnames
    else:
        assert all(f["qualname"] == f["name"] for f in report["functions"])
    for f in report["functions"]:
        assert f["file"] == "methods_lambdas.py"


def test_code_given_with_dash_c_is_traced(refscope_json):
    code = "total = 0\nfor i in range(7):\n    total += i\nprint(total)"
    res, report = refscope_json(["-c", code])
    assert (res.returncode, res.stdout) == (0, "21\n"), res
    [f] = report["files"]
    assert f["path"] == "<string>"
    assert {l["line"]: l["hits"] for l in f["lines"]}[3] == 7


def test_script_run_through_a_symlink_is_traced(refscope_json, tmp_path):
    link = tmp_path / "link_to_loops.py"
    os.symlink(SCRIPTS / "loops.py", link)
    res, report = refscope_json([link.name], cwd=tmp_path)
    assert res.returncode == 0, res
    assert report["line_events"] > 0, "nothing traced"
    [f] = report["files"]
    hits = {l["line"]: l["hits"] for l in f["lines"]}
    assert hits[line_of("loops.py", "total += j")] == 435


def test_self_time_excludes_your_code_it_called(tmp_path):
    # `main()` calls recursion: its line's self time is a sliver of its total; the recursive
    # function's self time is its whole total (it calls only itself); selves add up to at most the run.
    # fib(20) (21,891 calls) so the module's own few lines (print, first writes) stay a sliver.
    _, rep = run_with_json(tmp_path, ["recursion.py", "20"])
    lines = [l for f in rep["files"] for l in f["lines"]]
    assert all(l["self_ns"] <= l["time_ns"] for l in lines)
    assert sum(l["self_ns"] for l in lines) <= rep["wall_ns"]
    funcs = {f["qualname"]: f for f in rep["functions"]}
    module = funcs["<module>"]
    assert module["self_ns"] < 0.5 * module["total_ns"], module
    for f in rep["functions"]:
        assert f["self_ns"] <= f["total_ns"] + 1000, f
