"""`refscope run` runs the program exactly as `python` would: same stdout, stderr, exit code,
argv, `__file__`, `sys.path[0]` and `__main__`; the report only ever adds to stderr."""

from __future__ import annotations

import pytest
from conftest import SCRIPTS, TESTS, run_python, run_refscope

# The program's own arguments include flags refscope also has: they belong to the program.
OWN_ARGS = ["--flag", "value", "-q", "--json", "x.json"]

# script, its arguments, stdin
PROGRAMS = [
    ("threads.py", OWN_ARGS, None),
    ("asyncio_prog.py", OWN_ARGS, None),
    ("generators.py", OWN_ARGS, None),
    ("recursion.py", ["12"], None),
    ("loops.py", ["12"], None),
    ("methods_lambdas.py", OWN_ARGS, None),
    ("exceptions.py", OWN_ARGS, None),  # also writes to stderr
    ("uncaught.py", OWN_ARGS, None),  # traceback, exit 1
    ("echo_input.py", [], "Ada\nfirst line\nsecond line\n"),
    ("exit3.py", OWN_ARGS, None),  # sys.exit(3) after writing to stderr
    ("argv_probe.py", OWN_ARGS, None),
]
IDS = [p[0] for p in PROGRAMS]


def assert_same(python, refscope):
    assert refscope.stdout == python.stdout, f"stdout differs\n{python}\n{refscope}"
    assert refscope.stderr == python.stderr, f"stderr differs\n{python}\n{refscope}"
    assert refscope.returncode == python.returncode, f"exit code differs\n{python}\n{refscope}"


@pytest.mark.parametrize("script,args,stdin", PROGRAMS, ids=IDS)
def test_quiet_run_is_indistinguishable_from_python(script, args, stdin):
    python = run_python([script, *args], stdin=stdin)
    refscope = run_refscope(["-q", script, *args], stdin=stdin)
    assert_same(python, refscope)


@pytest.mark.parametrize("script,args,stdin", PROGRAMS, ids=IDS)
def test_report_goes_to_stderr_after_the_programs_own_output(script, args, stdin):
    python = run_python([script, *args], stdin=stdin)
    refscope = run_refscope([script, *args], stdin=stdin)
    assert refscope.stdout == python.stdout, f"stdout differs\n{python}\n{refscope}"
    assert refscope.returncode == python.returncode
    assert refscope.stderr.startswith(python.stderr), f"program's stderr not first\n{python}\n{refscope}"
    report = refscope.stderr[len(python.stderr) :]
    assert f"refscope run {script}" in report


def test_expected_outcomes_of_the_compared_programs():
    """The comparisons above are not between two equally broken runs."""
    assert run_python(["uncaught.py"]).returncode == 1
    assert "KeyError: 'missing'" in run_python(["uncaught.py"]).stderr
    assert run_python(["exit3.py"]).returncode == 3
    threads = run_python(["threads.py"])
    assert threads.stdout == "t0 499500\nt1 1999000\nt2 4498500\n"
    assert run_python(["echo_input.py"], stdin="Ada\nx\n").stdout == "name? hello Ada\nline x\n"


@pytest.mark.parametrize(
    "cwd,path",
    [
        (SCRIPTS, "argv_probe.py"),
        (SCRIPTS, "./argv_probe.py"),
        (TESTS, "scripts/argv_probe.py"),
        (TESTS, "scripts/../scripts/argv_probe.py"),
        (TESTS.parent, str(SCRIPTS / "argv_probe.py")),
    ],
    ids=["bare", "dot-slash", "relative", "dotdot", "absolute"],
)
def test_argv_file_path0_and_main_globals_match_python(cwd, path):
    python = run_python([path, "a", "-m", "b"], cwd=cwd)
    assert python.returncode == 0, python
    refscope = run_refscope(["-q", path, "a", "-m", "b"], cwd=cwd)
    assert_same(python, refscope)


def test_traceback_of_script_given_as_dot_slash_path_matches_python():
    python = run_python(["./uncaught.py"])
    refscope = run_refscope(["-q", "./uncaught.py"])
    assert_same(python, refscope)


def test_options_after_the_script_belong_to_the_program():
    python = run_python(["argv_probe.py", "--timeout", "1", "--top", "3", "-c", "x", "--", "-m"])
    refscope = run_refscope(["-q", "argv_probe.py", "--timeout", "1", "--top", "3", "-c", "x", "--", "-m"])
    assert_same(python, refscope)
    # and `--` before the script separates refscope's options from it
    refscope = run_refscope(["-q", "--", "argv_probe.py", "--timeout", "1", "--top", "3", "-c", "x", "--", "-m"])
    assert_same(python, refscope)


def test_module_run_matches_python_dash_m():
    python = run_python(["-m", "argv_probe", "x", "-q"])
    assert python.returncode == 0, python
    refscope = run_refscope(["-q", "-m", "argv_probe", "x", "-q"])
    assert_same(python, refscope)


def test_submodule_run_imports_its_package_once_as_python_does():
    python = run_python(["-m", "chatty_pkg.tool", "arg"])
    assert python.stdout == "chatty_pkg imported\ntool __main__ ['arg']\n", python
    refscope = run_refscope(["-q", "-m", "chatty_pkg.tool", "arg"])
    assert_same(python, refscope)


CODES = [
    "import sys; print(sys.argv, repr(sys.path[0]), __name__, sorted(globals()))",
    "import sys\nfor i in range(3):\n    print(i, file=sys.stderr)\nsys.exit(4)",
    "def f():\n    raise ValueError('from -c')\nf()",
    "print(input('? ')[::-1])",
]


@pytest.mark.parametrize("code", CODES, ids=["probe", "exit4", "traceback", "input"])
def test_code_run_matches_python_dash_c(code):
    python = run_python(["-c", code, "one", "-q"], stdin="stressed\n")
    refscope = run_refscope(["-q", "-c", code, "one", "-q"], stdin="stressed\n")
    assert_same(python, refscope)
