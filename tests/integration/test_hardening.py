"""Programs refscope used to break, and inputs it used to answer with a panic or a traceback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import environment, process_gone, run, run_python, run_with_json

REFSCOPE = [sys.executable, "-m", "refscope"]


def no_bench_worker(within: float = 5.0) -> bool:
    """True once no process of this user runs refscope's bench worker (waiting up to WITHIN s)."""
    import time

    deadline = time.monotonic() + within
    while True:
        alive = []
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and b"_bench_worker" in (d / "cmdline").read_bytes():
                    alive.append(d.name)
            except OSError:
                pass
        if not alive or time.monotonic() > deadline:
            return not alive
        time.sleep(0.05)


def assert_user_error(res, *words):
    assert res.returncode == 1, res
    assert res.stderr.startswith("error: "), res
    for bad in ("Traceback", "panicked", "bug in refscope"):
        assert bad not in res.stderr, res
    for w in words:
        assert w in res.stderr, res


def test_explain_follows_only_the_program_s_own_dash_c_code():
    # namedtuple evals its __new__ under the name <string>, as -c code is named.
    code = "import logging\nprint('ok', logging.getLogger('x').name)"
    res = run([*REFSCOPE, "explain", "-q", "-c", code])
    assert (res.returncode, res.stdout) == (0, "ok x\n"), res


def test_run_dash_c_does_not_charge_other_string_code_to_the_program_s_lines(tmp_path):
    code = "import collections\nP = collections.namedtuple('P', 'x y')\nps = [P(i, i) for i in range(100)]"
    res, report = run_with_json(tmp_path, ["-c", code])
    assert res.returncode == 0, res
    (f,) = report["files"]
    hits = {l["line"]: l["hits"] for l in f["lines"]}
    assert hits[1] == 1 and hits[2] == 1, hits


@pytest.mark.parametrize("module", ["threading", "sysconfig", "dis", "runpy", "linecache"])
def test_a_module_beside_the_script_named_like_the_standard_library_s(tmp_path, module):
    (tmp_path / f"{module}.py").write_text("raise SystemExit('the user module was imported')\n")
    (tmp_path / "main.py").write_text("print('hello')\n")
    plain = run_python([tmp_path / "main.py"], cwd=tmp_path)
    # The console script, as a user runs it (`python -m refscope` would put the cwd on sys.path).
    res = run([Path(sys.executable).parent / "refscope", "run", "-q", tmp_path / "main.py"], cwd=tmp_path)
    assert (res.returncode, res.stdout) == (plain.returncode, plain.stdout) == (0, "hello\n"), res


def test_a_bench_statement_that_ends_the_process_is_a_clear_error():
    assert_user_error(run([*REFSCOPE, "bench", "import os; os._exit(0)"]), "ended before")
    assert_user_error(run([*REFSCOPE, "bench", "import ctypes; ctypes.string_at(0)"]), "ended before")


def test_an_argument_that_is_not_utf8_is_a_clear_error(tmp_path):
    arg = os.fsdecode(b"\xff")
    assert_user_error(run([*REFSCOPE, "run", "-c", "pass", arg]), "UTF-8")




def test_a_timeout_stops_every_process_the_program_started():
    res = run([*REFSCOPE, "run", "-q", "--timeout", "1", "kids_shell_sleep.py"])
    assert res.returncode == 124, res
    assert process_gone(int(res.stdout.split()[0])), "the program's `sleep 30` outlived the timeout"


@pytest.mark.parametrize(
    "args,code",
    [(["--timeout", "1", "sleeper.py"], 124), (["segfault.py"], 139)],
    ids=["timeout", "segfault"],
)
def test_heap_keeps_the_program_s_exit_code_when_it_never_took_its_census(args, code):
    res = run([*REFSCOPE, "heap", *args])
    assert res.returncode == code, res
    assert "error: no census was taken" in res.stderr and "Traceback" not in res.stderr, res


def test_long_code_and_arguments_reach_the_program(tmp_path):
    # Over 128 KiB in all (the most one environment variable or argument may hold): the job
    # travels in a file, not in the worker's environment.
    code = "import sys\n" + "# padding\n" * 10_000 + "print(len(sys.argv) - 1, sum(map(len, sys.argv[1:])))\n"
    args = ["x" * 50_000] * 10
    for command in ("run", "profile", "explain"):
        res = run([*REFSCOPE, command, "-q", "-c", code, *args])
        assert (res.returncode, res.stdout) == (0, "10 500000\n"), (command, res.stderr[-500:])
    setup = "xs = '" + "y" * 120_000 + "'"
    res = run([*REFSCOPE, "bench", "--time-budget", "0.2", "-s", setup, "len(xs)"])
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-500:]


@pytest.mark.parametrize(
    "args, says",
    [
        (["heap", "nosuch.py"], "refscope heap -m NAME"),
        (["profile", "nosuch.py"], "refscope profile -m NAME"),
        (["explain", "nosuch.py"], "check the path"),
        (["explain"], "refscope explain --help"),
        (["profile"], "refscope profile --help"),
        (["heap", "--at", "nonsense", "-c", "pass"], "refscope heap --help"),
        (["bench", "--number", "0", "pass"], "refscope bench --help"),
        (["profile", "--lines-from"], "refscope profile --help"),
    ],
)
def test_a_hint_names_the_command_that_was_run(args, says):
    res = run([*REFSCOPE, *args])
    assert_user_error(res)
    hint = res.stderr.rstrip("\n").splitlines()[-1]
    assert hint.startswith("  hint: ") and says in hint, res
    others = {"run", "heap", "profile", "explain", "bench", "size"} - {args[0]}
    assert not any(f"refscope {o} " in hint for o in others), res


def test_an_unknown_flag_points_to_the_commands_help_not_to_dash_dash():
    res = run([*REFSCOPE, "bench", "-z", "pass"])
    assert_user_error(res, "'-z'")
    assert res.stderr.rstrip("\n").splitlines()[-1] == "  hint: see `refscope bench --help`", res


def _main_paths(tmp_path):
    import zipapp

    app = tmp_path / "app"
    app.mkdir()
    (app / "__main__.py").write_text(
        "import sys\ndef f():\n    return sum(range(100))\nprint(sys.argv[0], f(), __name__)\n", encoding="utf-8"
    )
    zipapp.create_archive(app, tmp_path / "app.pyz")
    return ["app", "app.pyz"]


@pytest.mark.parametrize("command", ["run", "profile", "explain"])
def test_a_directory_or_zipapp_with_a_main_runs_as_python_runs_it(tmp_path, command):
    for target in _main_paths(tmp_path):
        plain = run_python([target], cwd=tmp_path)
        assert plain.returncode == 0 and plain.stdout == f"{target} 4950 __main__\n", plain
        out = tmp_path / f"{command}.json"
        res = run([*REFSCOPE, command, "-q", "--json", out, target], cwd=tmp_path)
        assert (res.returncode, res.stdout) == (0, plain.stdout), (target, res)
        report = json.loads(out.read_text(encoding="utf-8"))
        if command == "run":
            [f] = report["files"]
            assert f["display"] == f"{target}/__main__.py"
            hits = {l["line"]: l["hits"] for l in f["lines"]}
            assert hits[3] == 1 and hits[4] == 1, hits
        elif command == "profile":
            assert any(fn["name"] == "f" and fn["yours"] for fn in report["functions"]), report["functions"]


def test_a_directory_without_a_main_is_refused_with_a_hint(tmp_path):
    (tmp_path / "empty").mkdir()
    res = run([*REFSCOPE, "run", tmp_path / "empty"])
    assert_user_error(res, "is a directory")
    assert "__main__.py" in res.stderr.splitlines()[-1], res


def test_a_script_that_can_be_read_once_runs_with_its_source_shown(tmp_path):
    # A shell's `<(…)` gives /dev/fd/N, a pipe: refscope reads it once and keeps the text.
    script = "import sys\nprint('from a pipe', sys.argv[1])\n"
    code = (
        "import os, subprocess, sys\n"
        "r, w = os.pipe()\n"
        "os.write(w, sys.argv[1].encode()); os.close(w)\n"
        "argv = ['run', '-q', '--json', sys.argv[2], f'/dev/fd/{r}', 'x']\n"
        "p = subprocess.run([sys.executable, '-m', 'refscope', *argv],"
        " pass_fds=[r], capture_output=True, text=True)\n"
        "print(p.returncode, repr(p.stdout), repr(p.stderr))\n"
    )
    out = tmp_path / "r.json"
    res = run_python(["-c", code, script, out])
    assert res.stdout == "0 'from a pipe x\\n' ''\n", res
    [f] = json.loads(out.read_text(encoding="utf-8"))["files"]
    assert [l["source"] for l in f["lines"]] == ["import sys", "print('from a pipe', sys.argv[1])"], f


def test_a_package_that_raises_on_import_shows_its_traceback_as_python_does(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ValueError('boom in init')\n")
    (pkg / "sub.py").write_text("print('sub')\n")
    plain = run_python(["-m", "pkg.sub"], cwd=tmp_path)
    res = run([*REFSCOPE, "run", "-q", "-m", "pkg.sub"], cwd=tmp_path)
    assert res.returncode == plain.returncode == 1, res
    assert "ValueError: boom in init" in res.stderr and "no module named" not in res.stderr, res


def test_explain_ends_with_130_on_an_uncaught_keyboard_interrupt():
    plain = run_python(["-c", "raise KeyboardInterrupt"])
    res = run([*REFSCOPE, "explain", "-q", "-c", "x = 1\nraise KeyboardInterrupt"])
    assert (plain.returncode, res.returncode) == (-2, 130), res  # killed by SIGINT, as the shell says it
    assert res.stderr.rstrip().endswith("KeyboardInterrupt"), res


@pytest.mark.parametrize(
    "stmt, budget",
    [("while True: pass", 0.5), ("import time; time.sleep(2)", 0.5)],
    ids=["never-ends", "slower-than-the-budget"],
)
def test_the_bench_time_budget_is_a_bound(stmt, budget):
    import time

    t0 = time.monotonic()
    res = run([*REFSCOPE, "bench", "--time-budget", str(budget), stmt])
    took = time.monotonic() - t0
    assert_user_error(res, "no sample finished within the time budget")
    assert "--time-budget" in res.stderr.splitlines()[-1], res
    # Generous: startup and a loaded machine; before, the first never ended and the second took 10 s.
    assert took < 2 * budget + 5, took
    assert no_bench_worker(), "no bench worker is left running"


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_ends_bench_with_what_it_measured(sig):
    import signal
    import subprocess
    import time

    p = subprocess.Popen(
        [*REFSCOPE, "bench", "--time-budget", "30", "--precision", "0.0001", "sum(range(100))"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    time.sleep(2.5)
    p.send_signal(getattr(signal, sig))
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (out, err)
    assert "Traceback" not in err and "panicked" not in err, err
    assert "STOPPED EARLY: interrupted" in out and "sum(range(100))" in out, out
    assert no_bench_worker(), "no bench worker is left running"


def test_ctrl_c_in_the_api_bench_is_the_callers_keyboard_interrupt():
    code = (
        "import os, signal, threading, refscope\n"
        "threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
        "try:\n"
        "    refscope.bench('sum(range(100))', time_budget=30, precision=0.0001)\n"
        "except KeyboardInterrupt:\n"
        "    print('caught')\n"
    )
    res = run_python(["-c", code])
    assert (res.returncode, res.stdout) == (0, "caught\n"), res
    assert no_bench_worker()


@pytest.mark.parametrize("delay", [0.5, 3.0], ids=["in-the-setup", "while-measuring"])
def test_ctrl_c_stops_size_at_once(delay):
    import signal
    import subprocess
    import time

    p = subprocess.Popen(
        [*REFSCOPE, "size", "-s", "xs = [[i] for i in range(3_000_000)]", "xs"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = p.communicate(timeout=60)
    if p.returncode == 0:
        pytest.skip("the machine measured it all before the signal came")
    assert (p.returncode, err) == (130, "error: interrupted\n"), (out, err)
    assert time.monotonic() - t0 < 5


def test_a_deleted_current_directory_is_a_clear_error(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (
        "import os, subprocess, sys\n"
        "os.chdir(sys.argv[1]); os.rmdir(sys.argv[1])\n"
        "p = subprocess.run([sys.executable, '-m', 'refscope', 'run', '-c', 'pass'], capture_output=True, text=True)\n"
        "print(p.returncode); print(p.stderr, end='')\n"
    )
    res = run_python(["-c", code, gone], cwd=tmp_path)
    lines = res.stdout.splitlines()
    assert lines[0] == "1" and lines[1] == "error: the current directory no longer exists", res
    assert lines[2].startswith("  hint: ") and "bug" not in res.stdout, res


@pytest.mark.skipif(sys.version_info < (3, 11), reason="PYTHONSAFEPATH is 3.11+")
def test_pythonsafepath_keeps_the_script_directory_off_sys_path(tmp_path):
    (tmp_path / "localmod.py").write_text("X = 1\n")
    (tmp_path / "main.py").write_text("import sys\nprint(sys.path[0] == sys.argv[1])\n")
    env = {"PYTHONSAFEPATH": "1"}
    plain = run_python([tmp_path / "main.py", str(tmp_path)], cwd=tmp_path.parent, env=env)
    res = run([*REFSCOPE, "run", "-q", tmp_path / "main.py", str(tmp_path)], cwd=tmp_path.parent, env=env)
    assert (res.returncode, res.stdout) == (plain.returncode, plain.stdout) == (0, "False\n"), res
    without = run([*REFSCOPE, "run", "-q", tmp_path / "main.py", str(tmp_path)], cwd=tmp_path.parent)
    assert without.stdout == "True\n", without


def test_bench_setup_imports_from_the_current_directory_as_timeit_does(tmp_path):
    (tmp_path / "localmod.py").write_text("X = 1\n")
    assert run_python(["-m", "timeit", "-s", "import localmod", "localmod.X"], cwd=tmp_path).returncode == 0
    res = run([*REFSCOPE, "bench", "--time-budget", "0.3", "-s", "import localmod", "localmod.X"], cwd=tmp_path)
    assert res.returncode == 0 and "localmod.X" in res.stdout, res


def test_size_says_which_objects_it_could_not_measure():
    setup = "class A:\n    def __sizeof__(self):\n        raise ValueError('no')\nxs = [A(), A(), 1.5]"
    res = run([*REFSCOPE, "size", "-s", setup, "xs"], env={"NO_COLOR": "1"})
    assert res.returncode == 0, res
    assert "NOT MEASURED: 2 object(s) whose __sizeof__ raised" in res.stdout, res.stdout


def test_a_size_expression_with_a_syntax_error_gets_a_syntax_hint():
    res = run([*REFSCOPE, "size", "1 +"])
    assert_user_error(res, "syntax error", "SyntaxError")
    hint = res.stderr.rstrip("\n").splitlines()[-1]
    assert hint.startswith("  hint: ") and "--setup" not in hint, res


def _limited(mib):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mib << 20, mib << 20))

    return limit


@pytest.mark.parametrize("mib", [120, 180])
def test_a_memory_limit_too_small_for_the_capture_is_a_clear_error_before_the_program_runs(mib):
    import subprocess

    p = subprocess.run(
        [*REFSCOPE, "run", "-c", "print('ran')"], capture_output=True, text=True, preexec_fn=_limited(mib)
    )
    if "MemoryError" in p.stderr and "refscope" not in p.stderr.split("MemoryError")[0][-200:]:
        pytest.skip("the interpreter itself does not start under this limit here")
    assert (p.returncode, p.stdout) == (1, ""), p
    assert p.stderr.startswith("error: the memory limit leaves no room"), p
    assert "ulimit -v" in p.stderr.splitlines()[-1], p


def test_under_a_memory_limit_that_fits_every_measurement_is_kept(tmp_path):
    import subprocess

    out = tmp_path / "r.json"
    code = "xs = [str(i) for i in range(1000)]\nprint('ran', len(xs))"
    p = subprocess.run(
        [*REFSCOPE, "run", "-q", "--json", out, "-c", code], capture_output=True, text=True, preexec_fn=_limited(340)
    )
    assert (p.returncode, p.stdout) == (0, "ran 1000\n"), p
    [f] = json.loads(out.read_text())["files"]
    hits = {l["line"]: l["hits"] for l in f["lines"]}
    assert set(hits) == {1, 2} and hits[2] == 1, hits


def test_a_full_dev_shm_moves_the_capture_to_the_temporary_directory(tmp_path):
    import shutil
    import subprocess

    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a mount namespace of the test's own")
    out = tmp_path / "r.json"
    # 20,000 lines take 20,000 counter slots (1.3 MiB of capture): more than that /dev/shm holds.
    # Small functions, not one long module: CPython 3.12's LINE events cost O(code size) each.
    src = []
    for i in range(4000):
        src += [f"def f{i}():", "    a = 1", "    b = a + 1", "    return b", ""]
    src += ["n = 0", "for i in range(4000):", "    n += globals()[f'f{i}']()", "print('ran', n)"]
    prog = tmp_path / "long.py"
    prog.write_text("\n".join(src) + "\n")
    script = "mount -t tmpfs -o size=1m tmpfs /dev/shm && " f"{sys.executable} -m refscope run -q --json {out} {prog}"
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=environment())
    if "mount" in p.stderr and p.returncode != 0 and not out.exists():
        pytest.skip(f"no mount namespace here: {p.stderr.strip()}")
    assert (p.returncode, p.stdout) == (0, "ran 8000\n"), p
    report = json.loads(out.read_text())
    [f] = report["files"]
    assert report["outcome"]["status"] == "exited" and len(f["lines"]) >= 16_000, len(f["lines"])


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.orig_argv is 3.10+")
@pytest.mark.parametrize("target", [["vis.py", "a", "-q"], ["-c", "import sys; print(sys.orig_argv[1:])", "x"]])
def test_the_program_sees_the_command_line_python_would_give_it(tmp_path, target):
    (tmp_path / "vis.py").write_text("import sys\nprint(sys.orig_argv[1:])\n")
    plain = run_python(target, cwd=tmp_path)
    res = run([*REFSCOPE, "run", "-q", *target], cwd=tmp_path)
    assert res.stdout == plain.stdout and plain.returncode == 0, (res, plain)


def test_a_program_that_clears_gc_callbacks_gets_a_report_that_says_so(tmp_path):
    res, report = run_with_json(tmp_path, ["-c", "import gc\ngc.callbacks.clear()\ngc.collect()"])
    assert res.returncode == 0, res
    u = report["outcome"]["unmeasured"]
    assert u and "gc.callbacks" in u["reason"] and report["outcome"]["partial"] is True, report["outcome"]


def test_a_latin1_source_is_shown_as_python_reads_it(tmp_path):
    script = tmp_path / "l1.py"
    script.write_bytes(b'# -*- coding: latin-1 -*-\ns = "caf\xe9"\nprint(len(s))\n')
    res, report = run_with_json(tmp_path, [script])
    assert res.stdout == "4\n", res
    [f] = report["files"]
    assert {l["line"]: l["source"] for l in f["lines"]}[2] == 's = "café"', f["lines"]
    res = run([*REFSCOPE, "explain", "-q", "--json", tmp_path / "e.json", script], cwd=tmp_path)
    assert res.returncode == 0, res
    [ef] = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))["files"]
    assert ef["source"][1] == 's = "café"'
