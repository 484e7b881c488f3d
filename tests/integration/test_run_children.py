"""Child processes are measured too (multiprocessing's fork, spawn and forkserver, a
ProcessPoolExecutor, `subprocess` running python, `os.fork`): their lines are in the report,
summed by file and line with a process count; the JSON keeps each process apart; a child that is
killed keeps what it measured; `--no-subprocesses` leaves them out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import line_of, process_gone, run_python, run_with_json


def same_as_python(tmp_path, args):
    plain = run_python(args)
    res, report = run_with_json(tmp_path, args)
    assert (res.returncode, res.stdout) == (plain.returncode, plain.stdout), f"--- python\n{plain}\n--- refscope\n{res}"
    return report


def lines(entry, script):
    """{line: (hits, processes)} of SCRIPT in a report or one of its processes."""
    for f in entry["files"]:
        if Path(f["path"]).name == script:
            return {l["line"]: (l["hits"], l.get("processes", 1)) for l in f["lines"]}
    return {}


def hits(entry, script):
    return {n: h for n, (h, _) in lines(entry, script).items()}


def assert_sums(report, script):
    """Every line's hits in the report are the sum of its hits in each process."""
    total: dict = {}
    for p in report["processes"]:
        for n, h in hits(p, script).items():
            total[n] = total.get(n, 0) + h
    assert total == hits(report, script)


def assert_work(report, script, calls, n):
    h = hits(report, script)
    assert h[line_of(script, "total = 0")] == calls
    assert h[line_of(script, "for i in range(n):")] == calls * (n + 1)
    assert h[line_of(script, "total += i")] == calls * n
    assert h[line_of(script, "return total")] == calls


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_pool_s_workers_are_measured(tmp_path, method):
    report = same_as_python(tmp_path, ["kids_pool.py", method])
    main, *children = report["processes"]
    assert main["origin"] == "main" and main["finished"]
    assert_work(report, "kids_pool.py", 4, 1000)
    assert hits(main, "kids_pool.py").get(line_of("kids_pool.py", "total += i")) is None, "work ran in workers only"
    workers = [p for p in children if hits(p, "kids_pool.py").get(line_of("kids_pool.py", "total += i"))]
    assert workers, children
    assert {p["origin"] for p in workers} == {"spawn" if method == "spawn" else "fork"}
    assert all(p["pid"] != main["pid"] for p in children)
    if method == "fork":
        assert all(p["ppid"] == main["pid"] for p in workers)
    else:
        # A spawned worker (and a forkserver's children) import the main module again.
        assert lines(report, "kids_pool.py")[line_of("kids_pool.py", "def work(n):")][1] >= 2
    assert hits(report, "kids_pool.py")[line_of("kids_pool.py", "ctx = mp.get_context")] == 1
    assert_sums(report, "kids_pool.py")


def test_a_process_pool_executor_s_workers_end_measured(tmp_path):
    report = same_as_python(tmp_path, ["kids_executor.py"])
    assert_work(report, "kids_executor.py", 6, 500)
    workers = [p for p in report["processes"][1:] if p["line_events"]]
    assert workers and all(p["finished"] for p in workers), workers
    assert_sums(report, "kids_executor.py")


def test_python_run_through_subprocess_is_measured(tmp_path):
    report = same_as_python(tmp_path, ["kids_subprocess.py"])
    main, *children = report["processes"]
    other = [p for p in children if hits(p, "kids_other.py")]
    assert len(other) == 1, children
    (child,) = other
    assert child["origin"] == "spawn" and child["ppid"] == main["pid"] and child["finished"]
    assert_work(report, "kids_other.py", 1, 700)
    assert hits(report, "kids_subprocess.py")[line_of("kids_subprocess.py", 'print("parent"')] == 1
    assert not hits(main, "kids_other.py")


def test_a_killed_child_keeps_its_figures_and_the_parent_s_stay_exact(tmp_path):
    report = same_as_python(tmp_path, ["kids_fork.py"])
    main, *children = report["processes"]
    assert len(children) == 2, children
    by_work = {hits(p, "kids_fork.py")[line_of("kids_fork.py", "total += i")]: p for p in children}
    assert set(by_work) == {300, 200}
    assert by_work[300]["finished"], "os._exit ends a child measured"
    killed = by_work[200]
    assert not killed["finished"]
    assert killed["last_line"]["line"] == line_of("kids_fork.py", "os.kill(os.getpid()")
    assert all(p["origin"] == "fork" and p["ppid"] == main["pid"] for p in children)
    # The parent's own counts are untouched by its children.
    assert hits(main, "kids_fork.py")[line_of("kids_fork.py", "total += i")] == 100
    h = hits(report, "kids_fork.py")
    assert h[line_of("kids_fork.py", "total += i")] == 600
    assert h[line_of("kids_fork.py", 'print("parent"')] == 1
    assert_sums(report, "kids_fork.py")


def test_no_subprocesses_measures_the_main_process_only(tmp_path):
    plain = run_python(["kids_pool.py", "fork"])
    res, report = run_with_json(tmp_path, ["--no-subprocesses", "kids_pool.py", "fork"])
    assert (res.returncode, res.stdout) == (plain.returncode, plain.stdout)
    assert [p["origin"] for p in report["processes"]] == ["main"]
    assert line_of("kids_pool.py", "total += i") not in hits(report, "kids_pool.py")


def test_the_terminal_report_lists_the_processes(tmp_path):
    res, _ = run_with_json(tmp_path, ["kids_fork.py"], quiet=False)
    assert "3 processes" in res.stderr, res
    assert "Processes" in res.stderr and "Procs" in res.stderr
    assert "ended without finishing" in res.stderr




def test_a_timeout_stops_the_children_too_and_leaves_nothing_behind(tmp_path):
    shm = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    res, report = run_with_json(tmp_path, ["--timeout", "1", "kids_sleeping.py"])
    assert res.returncode == 124, res
    (child,) = report["processes"][1:]
    assert not child["finished"] and "timeout" in child["description"]
    assert process_gone(child["pid"]), "the child outlived the run"
    left = {n for n in os.listdir("/dev/shm") if n.startswith("refscope-")} - shm if shm else set()
    assert not left, left
