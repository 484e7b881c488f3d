"""The terminal report of a big run fits a screen: the annotated source shows the lines that
matter (at least 1% of the time or of the memory allocated, a line around each), says what it left
out, and `--full` shows every line. A small run still shows every line."""

from __future__ import annotations

import json
import re
import sys

from conftest import run

REFSCOPE = [sys.executable, "-m", "refscope"]
ROW = re.compile(r"^\s+(\d+)\s+[\d,]+\s")  # an annotated source row: line number, hits


def rows(stderr: str) -> list[int]:
    return [int(m[1]) for l in stderr.splitlines() if (m := ROW.match(l))]


def write_program(tmp_path):
    # 300 quick module-level lines, one hot loop, one line that allocates a lot.
    body = [f"v{i} = {i}" for i in range(300)]
    body += ["total = 0", "for i in range(200_000):", "    total += i", "big = bytearray(20_000_000)", "print(total)"]
    script = tmp_path / "big.py"
    script.write_text("\n".join(body) + "\n")
    return script, {"hot": 303, "alloc": 304}


def test_a_big_run_shows_the_lines_that_matter_and_says_what_it_left_out(tmp_path):
    script, at = write_program(tmp_path)
    out = tmp_path / "r.json"
    res = run([*REFSCOPE, "run", "--json", out, script], cwd=tmp_path, env={"NO_COLOR": "1"})
    assert res.returncode == 0 and res.stdout == "19999900000\n", res
    shown = rows(res.stderr)
    ran = sum(len(f["lines"]) for f in json.loads(out.read_text())["files"])
    assert ran > 300
    assert at["hot"] in shown and at["alloc"] in shown, shown
    assert len(shown) < 40, shown  # hot lines, their neighbours, and the top-10 list
    summary = [l for l in res.stderr.splitlines() if l.startswith("Shown: ")]
    assert len(summary) == 1 and f"of {ran} lines that ran" in summary[0] and "--full" in summary[0], res.stderr
    assert "lines that ran, left out" in res.stderr


def test_full_shows_every_line_that_ran(tmp_path):
    script, _ = write_program(tmp_path)
    out = tmp_path / "r.json"
    res = run([*REFSCOPE, "run", "--full", "--json", out, script], cwd=tmp_path, env={"NO_COLOR": "1"})
    assert res.returncode == 0, res
    lines = {l["line"] for f in json.loads(out.read_text())["files"] for l in f["lines"]}
    assert lines <= set(rows(res.stderr)), sorted(lines - set(rows(res.stderr)))[:10]
    assert "Shown: " not in res.stderr


def test_a_small_run_shows_every_line(tmp_path):
    script = tmp_path / "small.py"
    script.write_text("xs = []\nfor i in range(10):\n    xs.append(i)\nprint(len(xs))\n")
    res = run([*REFSCOPE, "run", script], cwd=tmp_path, env={"NO_COLOR": "1"})
    assert {1, 2, 3, 4} <= set(rows(res.stderr)) and "Shown: " not in res.stderr, res.stderr
