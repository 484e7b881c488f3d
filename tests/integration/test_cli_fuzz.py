"""The command line under random input: flags, values, paths and bytes drawn by a seeded
generator from each command's own `--help`. Whatever comes in, refscope answers with its output
or one `error:` line (exit 1), never a panic or a traceback of its own, and in bounded time; no
file outside the test's directory is touched and no process is left behind.

Heavy (a few hundred runs): on 3.11 and 3.13 only, where the other heavy suites run.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import environment

pytestmark = pytest.mark.skipif(sys.version_info[:2] not in ((3, 11), (3, 13)), reason="heavy: 3.11 and 3.13")

REFSCOPE = [sys.executable, "-m", "refscope"]
COMMANDS = ["run", "heap", "explain", "profile", "bench", "size"]
CASES = 40  # per command
LIMIT = 60  # seconds one call may take (a --timeout drawn is at most 2 s)


def flags(command: str) -> list[tuple[str, bool]]:
    """(flag, takes a value) from `refscope COMMAND --help`."""
    text = subprocess.run([*REFSCOPE, command, "--help"], capture_output=True, text=True, check=True).stdout
    found = []
    for m in re.finditer(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)(?:[ =]<[^>]+>)?", text, re.M):
        if m.group(1) != "--help":
            found.append((m.group(1), "<" in m.group(0)))
    assert len(found) >= 4, text
    return found


def values(tmp: Path) -> list[str]:
    odd = os.fsdecode(b"caf\xe9")
    return [
        "0", "1", "2", "-1", "-3", "1e19", "nan", "inf", "0.001", "", " ", "x", "alloc", "time", "usec",
        odd, "a" * 3000, "--json", "-c", "-m", "--",
        str(tmp), str(tmp / "out.json"), str(tmp / "out.html"), str(tmp / "missing" / "x.json"),
        str(tmp / "prog.py"), str(tmp / "bad.py"), "prog.py:2", "prog.py:999", "*.py", "[", "**/",
    ]


def targets(command: str) -> list[list[str]]:
    if command == "bench":
        return [["pass"], ["x = 1", "y = 2"], ["1 +"], ["undefined_name"], ["-s", "xs = [1]", "len(xs)"]]
    if command == "size":
        return [["[1, 2]"], ["1 +"], ["undefined_name"], ["-s", "d = {1: [2]}", "d"]]
    return [
        ["prog.py"], ["prog.py", "arg", "-q"], ["bad.py"], ["-c", "print(1)"], ["-c", "1 +"],
        ["-m", "json.tool", "--help"], [],
    ]


def draw(rng: random.Random, command: str, options, pool) -> list[str]:
    argv = [command]
    for _ in range(rng.randint(0, 4)):
        flag, takes = rng.choice(options)
        argv.append(flag)
        if takes or rng.random() < 0.1:
            argv.append(rng.choice(pool))
    if rng.random() < 0.1:
        argv.append(rng.choice(["--no-such-flag", "-Z", os.fsdecode(b"\xff\xfe")]))
    # --timeout stays short, so a drawn program never runs for long.
    for i, a in enumerate(argv):
        if a == "--timeout" and i + 1 < len(argv):
            argv[i + 1] = rng.choice(["0.5", "2", "-1", "nan", "1e19", "x"])
        if a == "--time-budget" and i + 1 < len(argv):
            argv[i + 1] = rng.choice(["0.2", "0", "-1", "nan", "x"])
    return argv + rng.choice(targets(command))


@pytest.mark.parametrize("command", COMMANDS)
def test_random_command_lines_never_panic_or_hang(tmp_path, command):
    (tmp_path / "prog.py").write_text("import sys\nx = [1, 2, 3]\nprint(len(x), sys.argv[1:])\n")
    (tmp_path / "bad.py").write_bytes(b"\x00\xff not python")
    keep = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    shm_before = set(Path("/dev/shm").glob("refscope-*"))
    rng = random.Random(f"refscope-fuzz-{command}")
    options, pool = flags(command), values(tmp_path)
    env = {**environment(), "NO_COLOR": "1"}
    for _ in range(CASES):
        argv = draw(rng, command, options, pool)
        t0 = time.monotonic()
        try:
            p = subprocess.run(
                [*REFSCOPE, *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
                errors="replace", timeout=LIMIT, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"refscope {argv!r} took over {LIMIT} s")
        took = time.monotonic() - t0
        where = f"refscope {argv!r} (exit {p.returncode}, {took:.1f} s)\n{p.stderr[-1500:]}"
        assert "panicked" not in p.stderr and "RUST_BACKTRACE" not in p.stderr, where
        assert "internal error" not in p.stderr and "bug in refscope" not in p.stderr, where
        # A Python traceback may only be the program's own (prog.py, -c code), never refscope's.
        if "Traceback (most recent call last)" in p.stderr:
            assert "refscope/" not in p.stderr.split("Traceback (most recent call last)", 1)[1], where
        if p.returncode == 1 and p.stderr.startswith("error: "):
            errors = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
            assert len(errors) == 1, where
        # The program's exit codes: 0, 1 (an exception), 2 (json.tool/argparse), 124 (--timeout).
        assert p.returncode in (0, 1, 2, 124), where
        for name, data in keep.items():
            assert (tmp_path / name).read_bytes() == data, f"{name} was changed by {where}"
    assert set(Path("/dev/shm").glob("refscope-*")) <= shm_before, "a run directory was left in /dev/shm"
    assert not [d for d in Path("/proc").iterdir() if d.name.isdigit() and _cwd(d) == tmp_path], "a process was left"


def _cwd(proc: Path):
    try:
        return Path(os.readlink(proc / "cwd"))
    except OSError:
        return None
