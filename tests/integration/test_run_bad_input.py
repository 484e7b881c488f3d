"""Bad input: exit code 1, `error: ...` first, an optional `  hint: ...`, no traceback, no panic,
and the program never starts."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import SCRIPTS, run_python, run_refscope


def assert_user_error(res, max_lines=3):
    assert res.returncode == 1, res
    assert res.stdout == "", res
    assert res.stderr.startswith("error: "), res
    assert "Traceback" not in res.stderr, res
    assert "panicked" not in res.stderr, res
    lines = res.stderr.rstrip("\n").splitlines()
    assert len(lines) <= max_lines, res
    hints = [l for l in lines if l.startswith("  hint: ")]
    assert len(hints) <= 1 and (not hints or lines[-1] == hints[0]), res
    return lines


def test_missing_file(tmp_path):
    lines = assert_user_error(run_refscope(["nope.py"], cwd=tmp_path))
    assert "nope.py" in lines[0]


def test_directory(tmp_path):
    (tmp_path / "pkg").mkdir()
    lines = assert_user_error(run_refscope(["pkg"], cwd=tmp_path))
    assert "directory" in lines[0]


def test_binary_file(tmp_path):
    (tmp_path / "blob.py").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00print(1)\n")
    lines = assert_user_error(run_refscope(["blob.py"], cwd=tmp_path))
    assert "binary" in lines[0]


def test_non_utf8_file(tmp_path):
    (tmp_path / "latin.py").write_bytes('print("caf\u00e9")\n'.encode("latin-1"))
    lines = assert_user_error(run_refscope(["latin.py"], cwd=tmp_path))
    assert "UTF-8" in lines[0]


def test_declared_non_utf8_encoding_is_not_bad_input(tmp_path):
    src = '# -*- coding: latin-1 -*-\nprint("caf\u00e9")\n'
    (tmp_path / "latin.py").write_bytes(src.encode("latin-1"))
    res = run_refscope(["-q", "latin.py"], cwd=tmp_path)
    assert (res.returncode, res.stdout) == (0, "caf\u00e9\n"), res


SYNTAX_ERRORS = {
    "unclosed": 'x = 1\nprint("a"\ny = 2\n',
    "invalid": "def f(:\n    pass\n",
    "indent": "def f():\nreturn 1\n",
}


@pytest.mark.parametrize("source", SYNTAX_ERRORS.values(), ids=SYNTAX_ERRORS.keys())
def test_syntax_error_shows_pythons_own_message_and_caret(tmp_path, source):
    (tmp_path / "bad.py").write_text(source)
    python = run_python(["bad.py"], cwd=tmp_path)
    assert python.returncode == 1 and "Error" in python.stderr, python
    res = run_refscope(["bad.py"], cwd=tmp_path)
    lines = assert_user_error(res, max_lines=8)
    assert "bad.py" in lines[0] and "syntax error" in lines[0]
    # Every line Python prints (file and line, source, `SyntaxError: ...`) is there, and the
    # caret line points at the same column. Its width may differ: refscope formats the error
    # with the `traceback` module, and on 3.11 the interpreter's own printer draws a single `^`
    # where `traceback` draws one per character of the offending token (the same since 3.12).
    ours = [l.rstrip() for l in lines]
    for line in python.stderr.rstrip("\n").splitlines():
        if set(line.strip()) == {"^"}:
            column = line.index("^")
            assert any(set(l.strip()) == {"^"} and l.index("^") == column for l in ours), res
        else:
            assert line.rstrip() in ours, f"{line!r} missing\n{python}\n{res}"


def test_syntax_error_in_code(tmp_path):
    lines = assert_user_error(run_refscope(["-c", "x = = 1"], cwd=tmp_path), max_lines=8)
    assert "syntax error" in lines[0]
    assert any(l.startswith("SyntaxError") for l in lines)


def test_unknown_module(tmp_path):
    lines = assert_user_error(run_refscope(["-m", "no_such_module_refscope_test"], cwd=tmp_path))
    assert "no_such_module_refscope_test" in lines[0]


def test_unknown_submodule_of_a_package():
    # As `python -m`, the parent package is imported (once) to look for the submodule, so its
    # output is the program's; the error itself is refscope's one line.
    res = run_refscope(["-m", "chatty_pkg.missing"], cwd=SCRIPTS)
    assert res.stdout == run_python(["-m", "chatty_pkg.missing"], cwd=SCRIPTS).stdout == "chatty_pkg imported\n"
    lines = assert_user_error(dataclasses.replace(res, stdout=""))
    assert "chatty_pkg.missing" in lines[0]


def test_unwritable_json_path_fails_before_the_program_runs(tmp_path):
    marker = tmp_path / "marker"
    res = run_refscope(
        ["--json", tmp_path / "missing-dir" / "report.json", SCRIPTS / "write_marker.py", marker],
        cwd=tmp_path,
    )
    lines = assert_user_error(res)
    assert "report.json" in lines[0]
    assert not marker.exists(), "the program ran although the report could not be written"


def test_marker_script_does_write_its_marker(tmp_path):
    """The check above would pass vacuously if write_marker.py did not work."""
    marker = tmp_path / "marker"
    res = run_refscope(["-q", "--json", tmp_path / "r.json", SCRIPTS / "write_marker.py", marker], cwd=tmp_path)
    assert res.returncode == 0, res
    assert marker.read_text() == "ran\n"


def test_unknown_refscope_flag(tmp_path):
    lines = assert_user_error(run_refscope(["--no-such-flag", SCRIPTS / "write_marker.py", tmp_path / "m"]))
    assert "--no-such-flag" in lines[0]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "", "1e19", "1e300"])
def test_bad_timeout(tmp_path, value):
    marker = tmp_path / "m"
    lines = assert_user_error(run_refscope(["--timeout", value, SCRIPTS / "write_marker.py", marker]))
    assert "timeout" in lines[0].lower() or value in lines[0], lines
    assert not marker.exists()


def test_bad_include_pattern(tmp_path):
    marker = tmp_path / "m"
    lines = assert_user_error(run_refscope(["--include", "src/[", SCRIPTS / "write_marker.py", marker]))
    assert "--include" in lines[0]
    assert not marker.exists()


@pytest.mark.parametrize("args", [[], ["-q"], ["--json", "out.json"]], ids=["bare", "quiet", "json"])
def test_no_target(tmp_path, args):
    lines = assert_user_error(run_refscope(args, cwd=tmp_path))
    assert "nothing to run" in lines[0]
    assert not (tmp_path / "out.json").exists()
