"""Report files are written whole or not at all: a path that is the program (or another output
of the run) is refused before anything runs, an existing file is left as it was when the run
fails, and a closed stderr or stdout never sends the terminal report into a report file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import SCRIPTS, environment, run, run_refscope

REFSCOPE = [sys.executable, "-m", "refscope"]


def assert_refused(res, *words):
    assert res.returncode == 1, res
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr, res
    for w in words:
        assert w in res.stderr, res


def test_a_report_path_that_is_the_script_is_refused_and_the_script_kept(tmp_path):
    script = tmp_path / "v.py"
    script.write_text("print('kept')\n")
    for cmd in (["run", "--json"], ["heap", "--json"], ["explain", "--html"], ["explain", "--json"]):
        res = run([*REFSCOPE, *cmd, script, script], cwd=tmp_path)
        assert_refused(res, "v.py")
        assert script.read_text() == "print('kept')\n", cmd


def test_the_same_path_for_two_outputs_is_refused(tmp_path):
    out = tmp_path / "x"
    res = run([*REFSCOPE, "explain", "--json", out, "--html", out, SCRIPTS / "recursion.py"], cwd=tmp_path)
    assert_refused(res, "two outputs")
    assert not out.exists()
    res = run([*REFSCOPE, "bench", "--json", out, "--plot", out, "pass"], cwd=tmp_path)
    assert_refused(res, "two outputs")


def test_an_existing_report_survives_a_run_that_fails(tmp_path):
    old = tmp_path / "old.json"
    old.write_text('{"earlier": true}\n')
    res = run_refscope(["--json", old, "-m", "no_such_module_here"], cwd=tmp_path)
    assert res.returncode == 1, res
    assert old.read_text() == '{"earlier": true}\n'
    res = run([*REFSCOPE, "heap", "--json", old, "--at", SCRIPTS / "recursion.py:1000", SCRIPTS / "recursion.py"])
    assert res.returncode == 1, res
    assert old.read_text() == '{"earlier": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["old.json"], "no temporary file left behind"


def test_a_report_replaces_a_file_keeping_its_mode(tmp_path):
    out = tmp_path / "r.json"
    out.write_text("old")
    out.chmod(0o640)
    res = run_refscope(["-q", "--json", out, SCRIPTS / "recursion.py"])
    assert res.returncode == 0, res
    assert json.loads(out.read_text())["schema"] == "refscope.run"
    assert out.stat().st_mode & 0o777 == 0o640


def test_with_stderr_closed_the_json_report_stays_valid(tmp_path):
    out = tmp_path / "r.json"
    cmd = [*REFSCOPE, "run", "--json", str(out), str(SCRIPTS / "recursion.py")]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment(),
                       cwd=SCRIPTS, timeout=60, pass_fds=(), close_fds=True,
                       preexec_fn=lambda: __import__("os").close(2))
    assert p.returncode == 0
    assert json.loads(out.read_text())["schema"] == "refscope.run"


def test_with_stdout_closed_size_json_stays_valid(tmp_path):
    out = tmp_path / "s.json"
    cmd = [*REFSCOPE, "size", "--json", str(out), "-s", "xs = list(range(100))", "xs"]
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment(),
                       timeout=60, preexec_fn=lambda: __import__("os").close(1))
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["schema"] == "refscope.size"


def test_a_symlinked_report_replaces_the_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    res = run([*REFSCOPE, "run", "-q", "--json", link, "-c", "pass"], cwd=tmp_path)
    assert res.returncode == 0, res
    assert link.is_symlink() and json.loads(real.read_text())["schema"] == "refscope.run"


def test_a_fifo_or_stdout_as_the_report_is_written_in_place_not_replaced(tmp_path):
    import stat
    import threading

    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    res = run([*REFSCOPE, "run", "-q", "--json", fifo, "-c", "pass"], cwd=tmp_path)
    reader.join(30)
    assert res.returncode == 0, res
    assert stat.S_ISFIFO(fifo.stat().st_mode), "the FIFO is still a FIFO"
    assert json.loads(got[0])["schema"] == "refscope.run"
    out = run([*REFSCOPE, "run", "-q", "--json", "/dev/stdout", "-c", "print('program')"], cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("program\n{"), out
    assert json.loads(out.stdout.split("\n", 1)[1])["schema"] == "refscope.run"
