"""`refscope explain` tells the lesson's facts, checked against CPython itself.

Each test runs the real command on a lesson example (examples/lesson/) or a test script and reads
the JSON steps (schema in docs/json-schema.md).
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO, SCRIPTS, run, run_python

LESSON = REPO / "examples" / "lesson"


def explain(tmp_path, args, cwd=None):
    out = tmp_path / "steps.json"
    res = run([sys.executable, "-m", "refscope", "explain", "--json", out, *args], cwd=cwd or SCRIPTS)
    assert out.exists(), res
    return res, json.loads(out.read_text(encoding="utf-8"))


def step_at(report, line, nth=0):
    found = [s for s in report["steps"] if s["line"] == line]
    assert len(found) > nth, f"no step {nth} at line {line}: {[s['line'] for s in report['steps']]}"
    return found[nth]


def binding(step, name):
    for f in step["frames"]:
        for b in f["bindings"]:
            if b["name"] == name:
                return next(o for o in step["objects"] if o["ref"] == b["object"])
    raise AssertionError(f"{name} not bound at line {step['line']}: {step['frames']}")


def names(step):
    return {b["name"] for f in step["frames"] for b in f["bindings"]}


def events(step, kind):
    return [e for e in step["events"] if e["kind"] == kind]


def test_same_object_vs_same_value(tmp_path):
    res, r = explain(tmp_path, [LESSON / "same_object_vs_same_value.py"])
    assert res.returncode == 0 and res.stdout == "True\nTrue\nFalse\n", res
    after_b, after_c = step_at(r, 3), step_at(r, 4)
    a, b, c = binding(after_c, "a"), binding(after_c, "b"), binding(after_c, "c")
    assert a["id"] == b["id"] != c["id"]
    assert binding(after_b, "a")["refcount"] == 2, "the list's count after b = a"
    assert binding(step_at(r, 2), "a")["refcount"] == 1
    assert events(after_b, "aliased") and "b is a" in events(after_b, "aliased")[0]["text"]
    compare = events(step_at(r, 8), "compare")
    assert compare and "a is c → False" in compare[0]["text"] and "a == c → True" in compare[0]["text"]


def test_ids_are_cpythons(tmp_path):
    """The id shown is the one the program prints."""
    res, r = explain(tmp_path, [LESSON / "identity.py"])
    printed = int(res.stdout.strip().splitlines()[-1].split("=")[1])
    assert binding(step_at(r, 2), "x")["id"] == printed


def test_del_frees_the_only_reference(tmp_path):
    res, r = explain(tmp_path, [LESSON / "del_removes_name.py"])
    assert res.returncode == 0, res
    at = step_at(r, 4)  # del x
    assert "x" not in names(at)
    freed = events(at, "freed")
    assert len(freed) == 1 and "last reference went away at this line" in freed[0]["text"]
    assert freed[0]["object"] == binding(step_at(r, 2), "x")["ref"]


def test_alias_survives_del(tmp_path):
    _res, r = explain(tmp_path, [LESSON / "alias_survives_del.py"])
    at = step_at(r, 4)  # del a
    assert not events(at, "freed")
    assert names(at) >= {"b"} and "a" not in names(at)
    assert binding(at, "b")["ref"] == binding(step_at(r, 3), "a")["ref"]
    assert binding(at, "b")["refcount"] == 1
    assert "b still names it" in events(at, "deleted")[0]["text"]


def test_reassignment_frees_the_big_list(tmp_path):
    _res, r = explain(tmp_path, [LESSON / "reassign_drops_reference.py"])
    assert [s["line"] for s in r["steps"]] == [2, 3], "a comprehension is part of its line"
    freed = events(step_at(r, 3), "freed")
    assert len(freed) == 1 and "list" in freed[0]["text"]
    assert binding(step_at(r, 2), "big")["size"] > 800_000


def test_cycle_is_freed_only_by_the_gc(tmp_path):
    res, r = explain(tmp_path, ["explain_cycle.py"])
    assert res.returncode == 0, res
    found = int(res.stdout)
    assert events(step_at(r, 4), "cycle"), "a.append(a) forms a cycle"
    at_del = step_at(r, 5)
    assert not events(at_del, "freed") and "cycle" in events(at_del, "deleted")[0]["text"]
    at_gc = step_at(r, 6)
    freed = events(at_gc, "freed")
    assert len(freed) == 1 and "collected by the GC" in freed[0]["text"]
    gc = events(at_gc, "gc")
    assert len(gc) == 1 and f": {found} objects collected" in gc[0]["text"], (found, gc)
    for s in r["steps"]:
        if s["line"] != 6:
            assert not events(s, "freed"), s


def test_why_names_share_one_object(tmp_path):
    res, r = explain(tmp_path, ["explain_ints.py"])
    assert res.stdout == "True True False\n", res
    b = events(step_at(r, 2), "aliased")
    assert b and "small-int cache" in b[0]["text"]
    d = events(step_at(r, 4), "aliased")
    assert d and "constant of the compiled code" in d[0]["text"]
    last = step_at(r, 7)
    assert binding(last, "c")["id"] == binding(last, "d")["id"]
    assert binding(last, "e")["id"] != binding(last, "f")["id"]
    assert events(step_at(r, 6), "created"), "int('123456789') makes a new object"


def test_immortal_objects_are_labelled_and_counts_are_numbers(tmp_path):
    _res, r = explain(tmp_path, ["explain_ints.py"])
    last = step_at(r, 7)
    e = binding(last, "e")
    assert not e["immortal"] and e["refcount"] == 1
    for name in ("a", "g"):
        o = binding(last, name)
        if sys.version_info >= (3, 12):
            assert o["immortal"] and o["refcount"] is None, o
        else:
            assert not o["immortal"], o
    aliased = events(step_at(r, 2), "aliased")[0]["text"]
    assert ("immortal" in aliased) == (sys.version_info >= (3, 12)), aliased


def test_every_lesson_example_runs_as_without_refscope(tmp_path):
    for script in sorted(LESSON.glob("*.py")):
        plain = run_python([script], cwd=LESSON)
        res, r = explain(tmp_path, [script], cwd=LESSON)
        assert res.returncode == plain.returncode == 0, res
        assert r["steps"], script.name
        text = script.read_text()
        if "id(" in text or "time" in text or "Profile" in text:
            continue  # ids and timings differ from run to run
        assert res.stdout == plain.stdout, script.name


def test_step_cap_stops_an_endless_program(tmp_path):
    res, r = explain(tmp_path, ["--max-steps", "50", "explain_loop.py"])
    assert res.returncode == 0, res
    # 3.9 and 3.10 drop the `while True:` line: the body's line repeats, one step per run of it.
    assert r["limits"]["steps_cut"] and 1 <= len(r["steps"]) <= 50
    assert r["outcome"]["partial"]
    assert "step cap" in res.stderr and "--max-steps" in res.stderr


def test_object_cap_says_what_was_cut(tmp_path):
    _res, r = explain(tmp_path, ["--max-objects", "3", LESSON / "same_object_vs_same_value.py"])
    last = r["steps"][-1]
    assert len(last["objects"]) == 3 and last["objects_cut"]


def test_terminal_narrative(tmp_path):
    res = run([sys.executable, "-m", "refscope", "explain", LESSON / "alias_survives_del.py"], cwd=SCRIPTS)
    assert res.returncode == 0, res
    for text in ("refscope explain", "step 2", "aliased", "b is a", "deleted", "2 refs"):
        assert text in res.stderr, f"{text!r} missing\n{res.stderr}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope.py"], "does not exist"),
        (["-c", "x = ("], "syntax"),
        ([], "nothing to explain"),
        (["--max-steps", "0", "explain_ints.py"], "max-steps"),
        (["--timeout", "-1", "explain_ints.py"], "timeout"),
    ],
)
def test_bad_input_is_one_line(args, message):
    res = run([sys.executable, "-m", "refscope", "explain", *args])
    assert res.returncode == 1, res
    first = res.stderr.splitlines()[0].lower()
    assert first.startswith("error:") and message in res.stderr.lower(), res
    assert "Traceback" not in res.stderr and "panicked" not in res.stderr


def test_an_empty_program_is_explained_without_error(tmp_path):
    # 3.11+ report an empty module's line event on line 0.
    empty = tmp_path / "empty.py"
    empty.write_text("")
    for args in ([str(empty)], ["-c", ""]):
        res = run([sys.executable, "-m", "refscope", "explain", *args])
        assert res.returncode == 0 and "panicked" not in res.stderr, res
