"""refscope itself stopped: SIGTERM or SIGHUP sent to refscope goes to the program, which ends as
it would under python, and the report is still written (PARTIAL); when refscope is killed outright
the program does not live on without it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import SCRIPTS, environment, line_of, process_gone


def start(tmp_path, out):
    cmd = [sys.executable, "-m", "refscope", "run", "-q", "--json", str(out), str(SCRIPTS / "sleeper.py")]
    return subprocess.Popen(cmd, cwd=SCRIPTS, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def worker_of(launcher, within=20.0):
    """The pid of the launcher's worker, once it has printed the work line (the program runs)."""
    line = launcher.stdout.readline()
    assert line.startswith(b"work"), line
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for task in Path("/proc").iterdir():
            if task.name.isdigit():
                try:
                    stat = (task / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(") ", 1)[1].split()[1]) == launcher.pid:
                    return int(task.name)
        time.sleep(0.05)
    raise AssertionError("no worker found")




@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_to_refscope_stops_the_program_and_the_report_is_written(tmp_path, sig):
    out = tmp_path / "r.json"
    launcher = start(tmp_path, out)
    worker = worker_of(launcher)
    launcher.send_signal(sig)
    _, err = launcher.communicate(timeout=30)
    assert launcher.returncode == 128 + sig, err
    assert process_gone(worker)
    report = json.loads(out.read_text())
    assert report["outcome"]["partial"] and report["outcome"]["signal"] == signal.Signals(sig).name
    assert report["outcome"]["last_line"]["line"] == line_of("sleeper.py", "time.sleep(30)")


def test_a_sigint_sent_to_refscope_alone_reaches_the_program(tmp_path):
    # `kill -INT <refscope>` (not the terminal's Ctrl-C, which the whole group gets): the program
    # gets its KeyboardInterrupt, as under python, and the report is written.
    out = tmp_path / "r.json"
    launcher = start(tmp_path, out)
    worker = worker_of(launcher)
    launcher.send_signal(signal.SIGINT)
    _, err = launcher.communicate(timeout=30)
    assert launcher.returncode == 130, err
    assert b"KeyboardInterrupt" in err and err.count(b"KeyboardInterrupt") == 1, err
    assert process_gone(worker)
    report = json.loads(out.read_text())
    # The program ended through its KeyboardInterrupt and the shutdown: every figure is there.
    assert report["outcome"]["signal"] == "SIGINT" and not report["outcome"]["partial"], report["outcome"]


def test_killing_refscope_kills_the_program(tmp_path):
    launcher = start(tmp_path, tmp_path / "r.json")
    worker = worker_of(launcher)
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait(timeout=10)
    assert process_gone(worker), "the program outlived refscope"


def test_the_run_directory_of_a_killed_refscope_is_removed_by_the_next_run(tmp_path):
    launcher = start(tmp_path, tmp_path / "r.json")
    worker_of(launcher)
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait(timeout=10)
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    left = list(base.glob(f"refscope-{launcher.pid}-*"))
    assert left, "expected the killed launcher's run directory"
    res = subprocess.run([sys.executable, "-m", "refscope", "run", "-q", "-c", "pass"], env=environment(), timeout=60)
    assert res.returncode == 0
    assert not any(p.exists() for p in left)
