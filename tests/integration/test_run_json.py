"""The JSON report, field by field, against a golden file.

tests/snapshots/run_snapshot_target.json is the report of `refscope run --no-memory --json FILE
snapshot_target.py 20` (run from tests/scripts; memory figures differ between versions and are
checked in test_run_memory.py) with what varies between machines and runs
redacted: every `*_ns` time, the interpreter's version and path, the tracer and the clock, process
ids, and the checkout's location in `files[].path` (the report's and each process's). `functions`
are listed by total time, which varies, so the golden file keeps them in (file, line, name) order.
snapshot_target.py has the same line events on Python 3.9 to 3.13 (no comprehension, no one-line
loop, no class body, code from line 1), so one golden file serves every version.

To rewrite it after an intended change: REFSCOPE_UPDATE_SNAPSHOTS=1 (or --update-snapshots).
"""

from __future__ import annotations

import json

from conftest import SCRIPTS, SNAPSHOTS

SNAPSHOT = SNAPSHOTS / "run_snapshot_target.json"
REDACTED = "<redacted>"


def redact(report: dict) -> dict:
    r = json.loads(json.dumps(report))
    redact_figures(r)
    for key in ("version", "executable", "tracer", "clock"):
        assert isinstance(r["python"][key], str) and r["python"][key]
        r["python"][key] = REDACTED
    for p in r["processes"]:
        for key in ("pid", "ppid"):
            assert isinstance(p[key], int) and p[key] > 0
            p[key] = REDACTED
        redact_figures(p)
    return r


def redact_figures(r: dict) -> None:
    """Times and paths of a report or of one of its processes."""
    assert isinstance(r["wall_ns"], int) and r["wall_ns"] > 0
    r["wall_ns"] = REDACTED
    for f in r["files"]:
        assert f["path"].startswith(str(SCRIPTS) + "/"), f["path"]
        f["path"] = "<tests/scripts>" + f["path"][len(str(SCRIPTS)) :]
        for line in f["lines"]:
            for key in ("time_ns", "self_ns"):
                assert isinstance(line[key], int) and line[key] >= 0
                line[key] = REDACTED
    for fn in r["functions"]:
        for key in ("total_ns", "self_ns"):
            assert isinstance(fn[key], int) and fn[key] >= 0
            fn[key] = REDACTED
    r["functions"].sort(key=lambda fn: (fn["file"], fn["line"], fn["name"]))


def test_json_report_matches_golden_file(refscope_json, update_snapshots):
    res, report = refscope_json(["--no-memory", "snapshot_target.py", "20"])
    assert res.returncode == 0, res
    assert res.stdout == "buzz 3\nfizz 5\nfizzbuzz 1\nnumber 11\ndone\n", res
    got = json.dumps(redact(report), indent=2, ensure_ascii=False) + "\n"
    if update_snapshots:
        SNAPSHOTS.mkdir(exist_ok=True)
        SNAPSHOT.write_text(got, encoding="utf-8")
    assert SNAPSHOT.exists(), f"no golden file: run with REFSCOPE_UPDATE_SNAPSHOTS=1 to create {SNAPSHOT}"
    want = SNAPSHOT.read_text(encoding="utf-8")
    assert got == want, "JSON report differs from tests/snapshots (REFSCOPE_UPDATE_SNAPSHOTS=1 rewrites it)"


def test_json_report_is_written_with_and_without_terminal_report(refscope_json):
    quiet_res, quiet = refscope_json(["--no-memory", "snapshot_target.py", "20"])
    loud_res, loud = refscope_json(["--no-memory", "snapshot_target.py", "20"], quiet=False)
    assert quiet_res.stderr == ""
    assert "refscope run snapshot_target.py" in loud_res.stderr
    assert redact(quiet) == redact(loud)
