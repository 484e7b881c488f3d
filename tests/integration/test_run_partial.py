"""Runs that never reach the interpreter's normal shutdown still report everything measured until
they stopped, marked partial, with the exit code a shell would see from `python`."""

from __future__ import annotations

import time

import pytest
from conftest import line_hits, line_of, run_refscope


def assert_work_was_measured(report, script):
    """Each of these scripts calls work(1000) before it stops: the loop ran 1000 times."""
    hits = line_hits(report, script)
    assert hits[line_of(script, "total += i")] == 1000
    assert hits[line_of(script, "for i in range(n):")] == 1001
    assert hits[line_of(script, 'print("work", work(1000))')] == 1
    work = [f for f in report["functions"] if f["name"] == "work"]
    assert [f["calls"] for f in work] == [1]


def test_os_exit_ends_the_run_measured_with_its_exit_code(refscope_json):
    # refscope closes its figures in os._exit (which skips atexit): nothing is partial.
    res, report = refscope_json(["os_exit.py"])
    assert res.returncode == 3, res
    assert res.stdout == "work 499500\n"
    out = report["outcome"]
    assert (out["status"], out["exit_code"], out["signal"]) == ("exited", 3, None)
    assert out["partial"] is False
    assert out["last_line"] == {"file": "os_exit.py", "line": line_of("os_exit.py", "os._exit(3)")}
    assert line_hits(report, "os_exit.py")[line_of("os_exit.py", "os._exit(3)")] == 1
    assert_work_was_measured(report, "os_exit.py")


def test_segfault_is_partial_and_exits_139(refscope_json):
    res, report = refscope_json(["segfault.py"])
    assert res.returncode == 128 + 11, res
    out = report["outcome"]
    assert (out["status"], out["exit_code"], out["signal"]) == ("signalled", None, "SIGSEGV")
    assert out["partial"] is True
    assert out["last_line"]["line"] == line_of("segfault.py", "ctypes.string_at(0)")
    assert_work_was_measured(report, "segfault.py")


def test_self_sigkill_is_partial_and_exits_137(refscope_json):
    res, report = refscope_json(["sigkill_self.py"])
    assert res.returncode == 128 + 9, res
    out = report["outcome"]
    assert (out["status"], out["signal"]) == ("signalled", "SIGKILL")
    assert out["partial"] is True
    assert out["last_line"]["line"] == line_of("sigkill_self.py", "os.kill(")
    assert_work_was_measured(report, "sigkill_self.py")


def test_timeout_stops_the_program_and_says_where_it_was(refscope_json):
    started = time.monotonic()
    res, report = refscope_json(["--timeout", "1", "sleeper.py"])
    elapsed = time.monotonic() - started
    assert res.returncode == 124, res
    assert elapsed < 10, f"took {elapsed:.1f} s"
    out = report["outcome"]
    assert out["status"] == "timeout"
    assert out["partial"] is True
    assert out["last_line"] == {"file": "sleeper.py", "line": line_of("sleeper.py", "time.sleep(30)")}
    assert_work_was_measured(report, "sleeper.py")
    assert report["wall_ns"] < 10e9


def test_sys_exit_is_a_normal_shutdown_not_partial(refscope_json):
    res, report = refscope_json(["exit3.py"])
    assert res.returncode == 3, res
    out = report["outcome"]
    assert (out["status"], out["exit_code"], out["signal"]) == ("exited", 3, None)
    assert out["partial"] is False
    hits = line_hits(report, "exit3.py")
    assert hits[line_of("exit3.py", "total += i")] == 100
    assert hits[line_of("exit3.py", "sys.exit(3)")] == 1


def test_finished_run_is_not_partial(refscope_json):
    res, report = refscope_json(["recursion.py"])
    assert res.returncode == 0, res
    assert report["outcome"]["status"] == "exited"
    assert report["outcome"]["partial"] is False
    assert report["outcome"]["exit_code"] == 0


@pytest.mark.parametrize(
    "args,code",
    [(["segfault.py"], 139), (["sigkill_self.py"], 137), (["--timeout", "1", "sleeper.py"], 124)],
    ids=["segfault", "sigkill", "timeout"],
)
def test_terminal_report_of_a_partial_run_says_partial(args, code):
    res = run_refscope(args)
    assert res.returncode == code, res
    assert "PARTIAL" in res.stderr, res
    assert "work(1000)" in res.stderr  # the lines measured before the end are listed


def test_terminal_report_of_a_finished_run_does_not_say_partial():
    res = run_refscope(["exit3.py"])
    assert res.returncode == 3
    assert "PARTIAL" not in res.stderr, res
