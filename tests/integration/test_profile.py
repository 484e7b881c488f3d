"""`refscope profile`: call counts against cProfile, and every output format against what reads it.

Oracle: the same program under cProfile in-process (`cProfile.Profile().enable()`, then
`runpy.run_path(..., run_name="__main__")`). For every function of the program's file (and, with
--all, of the library file compared), (primitive calls, calls) must be cProfile's; for every other
function (C builtins and methods, library functions), the calls coming from those files must be.
Where the two count differently by design the tests say so and check refscope's own count:
a generator is one call per generator made (cProfile: one per resume), every thread is profiled
(cProfile: the one it was enabled in), and a built-in class called (`range`, `map`, `super`) is
refscope's alone (cProfile does not see calls of classes).

The programs are tests/scripts/profile_*.py; none imports anything in the profiled region that
the two runs would import differently.
"""

from __future__ import annotations

import colorsys
import json
import os
import pstats
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import SCRIPTS, Result, run, run_python

REFSCOPE = [sys.executable, "-m", "refscope"]

# The program under cProfile, in this interpreter: argv is OUT SCRIPT ARGS...
CPROFILE = r"""
import cProfile, os, runpy, sys
out, script, *args = sys.argv[1:]
sys.argv = [script, *args]
sys.path[0] = os.path.dirname(os.path.abspath(script))
prof = cProfile.Profile()
code = 0
prof.enable()
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as e:
    code = e.code
finally:
    prof.disable()
prof.dump_stats(out)
sys.exit(code)
"""

# The keys of the JSON report (docs/json-schema.md, "refscope.profile" version 1).
REPORT_KEYS = {
    "schema", "schema_version", "refscope_version", "python", "program", "outcome", "wall_ns",
    "memory", "node_limit", "threads", "nodes", "functions", "chart",
}
PYTHON_KEYS = {"version", "executable", "tracer", "clock"}
OUTCOME_KEYS = {"status", "exit_code", "partial", "description"}
THREAD_KEYS = {"id", "name", "root", "total_ns"}
NODE_KEYS = {
    "id", "parent", "function", "thread", "calls", "total_ns", "self_ns", "alloc_bytes", "allocations",
    "objects_created", "children",
}
FUNCTION_KEYS = {
    "id", "name", "kind", "file", "line", "pstats_key", "yours", "calls", "primitive_calls", "total_ns",
    "self_ns", "alloc_bytes", "callers", "callees",
}
EDGE_KEYS = {"function", "calls", "primitive_calls", "total_ns", "self_ns"}

SLACK = 0.02  # children's time against their parent's: measured apart, so allow 2%


def run_profile(args, **kw) -> Result:
    """`refscope profile ARGS...` (cwd: tests/scripts by default)."""
    return run([*REFSCOPE, "profile", *args], **kw)


def load_stats(path: Path) -> dict:
    return pstats.Stats(str(path)).stats


def profile_with_files(tmp_path: Path, args, flags=(), **kw):
    """`refscope profile -q --json --pstats FLAGS ARGS`: the result, the report, the pstats dict."""
    js, prof = tmp_path / "profile.json", tmp_path / "refscope.prof"
    for p in (js, prof):
        if p.exists():
            p.unlink()
    res = run_profile(["-q", "--json", js, "--pstats", prof, *flags, *args], **kw)
    assert js.exists() and prof.exists(), f"no report written\n{res}"
    return res, json.loads(js.read_text(encoding="utf-8")), load_stats(prof)


def cprofile_stats(tmp_path: Path, script: str, args=()):
    out = tmp_path / "cprofile.prof"
    res = run_python(["-c", CPROFILE, out, SCRIPTS / script, *args])
    assert out.exists(), f"cProfile wrote no stats\n{res}"
    return res, load_stats(out)


def real(path: str) -> str:
    """PATH resolved; a pseudo file name (`<string>`, `<frozen ...>`) stays as it is."""
    return path if path.startswith("<") else os.path.realpath(path)


def norm(key: tuple) -> tuple:
    return key if key[0] == "~" else (real(key[0]), key[1], key[2])


def counted(stats: dict, files: set) -> dict:
    """What the oracle compares: {key: (primitive calls, calls)} for the functions of FILES,
    {key: calls from FILES} for the others (built-in classes left out: cProfile has none)."""
    files = {real(f) for f in files}

    def in_files(key):
        return key[0] != "~" and real(key[0]) in files

    out = {}
    for key, (pc, nc, _tt, _ct, callers) in stats.items():
        if in_files(key):
            out[norm(key)] = (pc, nc)
        elif not key[2].startswith("<class "):
            n = sum(v[1] for k, v in callers.items() if in_files(k))
            if n:
                out[norm(key)] = n
    return out


def mismatches(want: dict, got: dict, skip=()) -> list:
    keys = sorted(set(want) | set(got), key=repr)
    return [
        f"{k[0] if k[0] == '~' else Path(k[0]).name}:{k[1]}:{k[2]}: cProfile {want.get(k)}, refscope {got.get(k)}"
        for k in keys
        if k[2] not in skip and want.get(k) != got.get(k)
    ]


def key_of(stats: dict, file: Path, name: str) -> tuple:
    found = [k for k in stats if k[0] != "~" and real(k[0]) == real(str(file)) and k[2] == name]
    assert len(found) == 1, f"{name} of {file.name}: {found} in {sorted(stats, key=repr)}"
    return found[0]


def functions_named(report: dict, name: str) -> list:
    return [f for f in report["functions"] if f["name"] == name]


def only_function(report: dict, name: str) -> dict:
    found = functions_named(report, name)
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def nodes_of(report: dict, fn: dict) -> list:
    return [n for n in report["nodes"] if n["function"] == fn["id"]]


# --- call counts against cProfile ------------------------------------------------------------

COMPARED = [
    ["profile_recursion.py"],
    ["profile_methods.py"],
    ["profile_exceptions.py"],
    ["profile_builtins.py"],
    ["profile_colors.py"],
    ["profile_exit.py"],
    ["profile_generated.py"],
]


@pytest.mark.parametrize("argv", COMPARED, ids=lambda a: a[0])
def test_calls_equal_cprofiles(tmp_path, argv):
    script = SCRIPTS / argv[0]
    oracle, want_stats = cprofile_stats(tmp_path, argv[0], argv[1:])
    res, _, got_stats = profile_with_files(tmp_path, argv)
    assert res.returncode == oracle.returncode, res
    assert res.stdout == oracle.stdout, res
    want, got = counted(want_stats, {str(script)}), counted(got_stats, {str(script)})
    assert any(k[0] != "~" for k in want) and any(k[0] == "~" for k in want), want
    bad = mismatches(want, got)
    assert not bad, "\n".join(bad)


ALL_COMPARED = [
    ["profile_recursion.py"],
    ["profile_methods.py"],
    ["profile_exceptions.py"],
    ["profile_builtins.py"],
    ["profile_colors.py"],
    ["profile_generated.py"],
]


@pytest.mark.parametrize("argv", ALL_COMPARED, ids=lambda a: a[0])
def test_with_all_calls_equal_cprofiles_in_the_library_too(tmp_path, argv):
    # colorsys is imported by profile_colors.py alone, in both runs: its every function is
    # compared; so is every function profile_generated.py compiles under the name <generated>.
    script = SCRIPTS / argv[0]
    files = {str(script), colorsys.__file__, "<generated>"}
    oracle, want_stats = cprofile_stats(tmp_path, argv[0], argv[1:])
    res, report, got_stats = profile_with_files(tmp_path, argv, ["--all"])
    assert res.returncode == oracle.returncode, res
    assert res.stdout == oracle.stdout, res
    bad = mismatches(counted(want_stats, files), counted(got_stats, files))
    assert not bad, "\n".join(bad)
    not_yours = [f["name"] for f in report["functions"] if f["kind"] == "python" and not f["yours"]
                 and not f["file"].startswith("<")]
    assert not not_yours, f"--all: every function in a file is yours: {not_yours}"


def test_library_calls_fold_into_the_function_your_code_called(tmp_path):
    colors = Path(colorsys.__file__)
    _, want = cprofile_stats(tmp_path, "profile_colors.py")
    _, report, default = profile_with_files(tmp_path, ["profile_colors.py"])
    _, _, everything = profile_with_files(tmp_path, ["profile_colors.py"], ["--all"])
    hls = key_of(want, colors, "hls_to_rgb")
    v = key_of(want, colors, "_v")
    assert want[v][1] == 36, want[v]  # three per hls_to_rgb call
    assert default[hls][:2] == want[hls][:2] == (12, 12)
    assert not [k for k in default if k[2] == "_v"], "colorsys._v is called by colorsys, not by the program"
    assert everything[v][:2] == want[v][:2]
    fn = only_function(report, "hls_to_rgb")
    assert fn["kind"] == "python" and not fn["yours"] and fn["calls"] == 12, fn
    assert not functions_named(report, "_v")
    # max() and min() are called by colorsys.rgb_to_hls, not by the program: not counted by default.
    assert not [k for k in default if k[2] in ("<built-in method builtins.max>", "<built-in method builtins.min>")]
    callers = everything[("~", 0, "<built-in method builtins.max>")][4]
    assert sum(v[1] for c, v in callers.items() if c[0] == str(colors)) == 12, callers


def test_recursion_counts(tmp_path):
    script = SCRIPTS / "profile_recursion.py"
    res, report, stats = profile_with_files(tmp_path, ["profile_recursion.py"])
    assert res.returncode == 0, res
    assert stats[key_of(stats, script, "fib")][:2] == (1, 1973)
    # is_even(25) and is_odd(24) call each other down to 0: 25 calls of is_even, 26 of is_odd,
    # 2 of each not recursive (the one from <module>, the first one the other makes).
    even, odd = stats[key_of(stats, script, "is_even")], stats[key_of(stats, script, "is_odd")]
    assert (even[:2], odd[:2]) == ((2, 25), (2, 26)), (even, odd)
    fib = only_function(report, "fib")
    assert (fib["primitive_calls"], fib["calls"]) == (1, 1973)
    assert fib["yours"] and fib["kind"] == "python" and fib["line"] == 3, fib
    assert sum(n["calls"] for n in nodes_of(report, fib)) == 1973
    assert fib["total_ns"] <= report["threads"][0]["total_ns"]


def test_methods_and_lambdas_are_named_and_counted(tmp_path):
    res, report, _ = profile_with_files(tmp_path, ["profile_methods.py"])
    assert res.returncode == 0, res
    by = {(f["name"], f["line"]): f for f in report["functions"] if f["yours"]}
    names = {name for name, _ in by}

    def q(name):
        # Code objects carry their class-qualified name from 3.11 on (co_qualname).
        return name if sys.version_info >= (3, 11) else name.rsplit(".", 1)[-1]

    assert {q(n) for n in ("Shape.__init__", "Rect.__init__", "Square.__init__", "Rect.area", "Shape.describe",
                           "Square.unit", "Square.of", "Rect.perimeter", "<lambda>")} <= names, names
    assert by[(q("Shape.__init__"), 5)]["calls"] == 5
    assert by[(q("Square.__init__"), 37)]["calls"] == 3
    lambdas = sorted((line, f["calls"]) for (name, line), f in by.items() if name == "<lambda>")
    assert lambdas == [(51, 5), (52, 5), (56, 5)], lambdas
    sorted_fn = only_function(report, "sorted")
    assert sorted_fn["kind"] == "builtin" and sorted_fn["calls"] == 3, sorted_fn
    assert sorted_fn["pstats_key"] == ["~", 0, "<built-in method builtins.sorted>"]


def test_builtins_are_counted_under_cprofiles_names(tmp_path):
    res, report, stats = profile_with_files(tmp_path, ["profile_builtins.py"])
    assert res.returncode == 0, res
    calls = {k[2]: v[1] for k, v in stats.items() if k[0] == "~"}
    # 40 words appended in words_of, 50 + 50 in the loop (half through list.append(xs, ...)).
    assert calls["<method 'append' of 'list' objects>"] == 71 + 100, calls
    assert calls["<built-in method builtins.len>"] == 2, calls  # map's and max's len are theirs
    assert calls["<method 'join' of 'str' objects>"] == 2, calls
    assert calls["<built-in method builtins.sum>"] == 2, calls
    assert calls["<built-in method builtins.max>"] == 2, calls
    fn = only_function(report, "list.append")
    assert fn["kind"] == "builtin" and fn["file"] == "~" and fn["line"] == 0, fn
    assert fn["pstats_key"] == ["~", 0, "<method 'append' of 'list' objects>"]
    assert only_function(report, "len")["pstats_key"] == ["~", 0, "<built-in method builtins.len>"]
    # Calls of built-in classes are seen on 3.12+ only (docs/profile.md).
    if sys.version_info >= (3, 12):
        m = only_function(report, "map")
        assert m["kind"] == "class" and m["calls"] == 1, m
        assert m["pstats_key"] == ["~", 0, "<class 'map'>"], m
    else:
        assert not [f for f in report["functions"] if f["kind"] == "class"]


def test_generators_count_once_per_generator(tmp_path):
    script = SCRIPTS / "profile_generators.py"
    oracle, want_stats = cprofile_stats(tmp_path, "profile_generators.py")
    res, report, got_stats = profile_with_files(tmp_path, ["profile_generators.py"])
    assert res.returncode == oracle.returncode == 0, res
    assert res.stdout == oracle.stdout == "total 305\n"
    # count_up(1..5) and the one squares(10) makes: 6 generators, 25 items; one squares(): 10 items.
    count_up, squares = key_of(got_stats, script, "count_up"), key_of(got_stats, script, "squares")
    assert got_stats[count_up][:2] == (6, 6), got_stats[count_up]
    assert got_stats[squares][:2] == (1, 1), got_stats[squares]
    assert want_stats[count_up][1] == 25 + 6 > 6, want_stats[count_up]  # cProfile: every resume
    assert want_stats[squares][1] == 10 + 1 > 1, want_stats[squares]
    assert only_function(report, "count_up")["calls"] == 6
    assert only_function(report, "squares")["calls"] == 1
    # Everything else, the calls made inside the generators included, is counted as cProfile does.
    files = {str(script)}
    bad = mismatches(counted(want_stats, files), counted(got_stats, files), skip=("count_up", "squares"))
    assert not bad, "\n".join(bad)
    assert got_stats[key_of(got_stats, script, "square")][:2] == (10, 10)


def test_every_thread_is_profiled(tmp_path):
    script = SCRIPTS / "profile_threads.py"
    res, report, stats = profile_with_files(tmp_path, ["profile_threads.py"])
    assert res.returncode == 0, res
    assert res.stdout == "fib 144 work 4950\n"
    assert len(report["threads"]) == 2, report["threads"]
    main, other = report["threads"]
    assert main["name"] == "MainThread" and other["name"] == "fibber", report["threads"]
    fib = only_function(report, "fib")
    assert (fib["primitive_calls"], fib["calls"]) == (1, 465), fib
    assert stats[key_of(stats, script, "fib")][:2] == (1, 465)
    assert {n["thread"] for n in nodes_of(report, fib)} == {other["id"]}
    assert sum(n["calls"] for n in nodes_of(report, fib)) == 465
    [in_thread] = nodes_of(report, only_function(report, "in_thread"))
    assert in_thread["thread"] == other["id"] and in_thread["calls"] == 1
    [work] = nodes_of(report, only_function(report, "work"))
    assert work["thread"] == main["id"] and work["calls"] == 1


def test_module_and_code_run(tmp_path):
    res, report, stats = profile_with_files(tmp_path, ["-m", "profile_recursion"])
    assert res.returncode == 0, res
    assert res.stdout.startswith("fib 610\n"), res
    assert report["program"]["kind"] == "module"
    assert stats[key_of(stats, SCRIPTS / "profile_recursion.py", "fib")][:2] == (1, 1973)
    res, report, stats = profile_with_files(tmp_path, ["-c", "print(sorted([3, 1, 2]), len('ab'))"])
    assert res.returncode == 0 and res.stdout == "[1, 2, 3] 2\n", res
    assert report["program"]["kind"] == "code"
    assert stats[("~", 0, "<built-in method builtins.sorted>")][:2] == (1, 1)


def test_refscopes_own_calls_are_not_profiled(tmp_path):
    # An empty program: its <module>, and what the interpreter runs at exit for every program.
    res, report, _ = profile_with_files(tmp_path, ["-c", "pass"])
    assert res.returncode == 0, res
    extra = [(f["name"], f["file"]) for f in report["functions"] if f["name"] not in ("<module>", "_shutdown")]
    assert not extra, f"not called by the program: {extra}"


# --- the report and its files ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["profile_recursion.py"], ["profile_threads.py"], ["profile_generators.py"], ["profile_methods.py"]],
    ids=lambda a: a[0],
)
def test_json_report_is_consistent(tmp_path, argv):
    res, r, stats = profile_with_files(tmp_path, argv)
    assert res.returncode == 0, res
    assert set(r) == REPORT_KEYS, set(r) ^ REPORT_KEYS
    assert r["schema"] == "refscope.profile" and r["schema_version"] == 1
    assert isinstance(r["refscope_version"], str) and r["refscope_version"]
    assert PYTHON_KEYS <= set(r["python"]) and all(isinstance(r["python"][k], str) for k in PYTHON_KEYS)
    assert r["python"]["version"] == "%d.%d.%d" % sys.version_info[:3]
    assert r["program"]["kind"] == "script" and r["program"]["target"] == argv[0]
    assert OUTCOME_KEYS <= set(r["outcome"])
    assert r["outcome"]["status"] == "exited" and r["outcome"]["exit_code"] == 0
    assert r["outcome"]["partial"] is False and isinstance(r["outcome"]["description"], str)
    assert isinstance(r["wall_ns"], int) and r["wall_ns"] > 0
    assert r["memory"] is False and r["node_limit"] is None
    nodes, functions = r["nodes"], r["functions"]

    roots = {t["root"] for t in r["threads"]}
    assert len({t["id"] for t in r["threads"]}) == len(r["threads"]) == len(roots)
    for t in r["threads"]:
        assert set(t) == THREAD_KEYS and isinstance(t["name"], str) and t["name"]
        root = nodes[t["root"]]
        assert root["parent"] is None and root["function"] is None and root["thread"] == t["id"]
        assert t["total_ns"] == root["total_ns"] == sum(nodes[c]["total_ns"] for c in root["children"])
    assert all(t["total_ns"] <= r["wall_ns"] for t in r["threads"]), (r["wall_ns"], r["threads"])

    for i, n in enumerate(nodes):
        assert set(n) == NODE_KEYS, set(n) ^ NODE_KEYS
        assert n["id"] == i
        assert n["self_ns"] <= n["total_ns"], n
        kids = sum(nodes[c]["total_ns"] for c in n["children"])
        assert kids <= n["total_ns"] * (1 + SLACK), (n, kids)
        for c in n["children"]:
            assert nodes[c]["parent"] == i and nodes[c]["thread"] == n["thread"]
        if i in roots:
            continue
        assert n["parent"] is not None and i in nodes[n["parent"]]["children"], n
        assert 0 <= n["function"] < len(functions), n
        assert n["alloc_bytes"] == n["allocations"] == n["objects_created"] == 0  # no --memory
    assert sum(len(n["children"]) for n in nodes) == len(nodes) - len(roots), "every node has one parent"

    for i, f in enumerate(functions):
        assert set(f) == FUNCTION_KEYS, set(f) ^ FUNCTION_KEYS
        assert f["id"] == i and f["kind"] in ("python", "builtin", "class"), f
        mine = [n for n in nodes if n["function"] == i]
        assert mine, f"{f['name']} has no node"
        assert f["calls"] == sum(n["calls"] for n in mine), f
        assert f["self_ns"] == sum(n["self_ns"] for n in mine), f
        # (each node's time is rounded to ns on its own: a function's sums may be a few ns over)
        assert f["primitive_calls"] <= f["calls"] and f["self_ns"] <= f["total_ns"] * (1 + SLACK), f
        from_roots = sum(n["calls"] for n in mine if n["parent"] in roots)
        assert sum(e["calls"] for e in f["callers"]) + from_roots == f["calls"], f
        for e in f["callers"]:
            assert set(e) == EDGE_KEYS and e["primitive_calls"] <= e["calls"]
            back = [x for x in functions[e["function"]]["callees"] if x["function"] == i]
            assert back == [{**e, "function": i}], (f["name"], e, back)
        key = tuple(f["pstats_key"])
        if f["kind"] == "python":
            assert f["file"] != "~" and f["line"] > 0 and key[1] == f["line"], f
            assert real(key[0]) == real(os.path.join(SCRIPTS, f["file"])), f
            assert f["name"].split(".")[-1] == key[2] or key[2].startswith("<"), f
        else:
            assert f["file"] == "~" and f["line"] == 0 and key[:2] == ("~", 0), f
        assert stats[key][0] >= f["primitive_calls"] and stats[key][1] >= f["calls"], (f, stats[key])
    yours = {f["name"] for f in functions if f["yours"]}
    assert "<module>" in yours and "_shutdown" not in yours, yours


def test_pstats_file_loads_and_python_m_pstats_reads_it(tmp_path):
    out = tmp_path / "hot.prof"
    res = run_profile(["-q", "--pstats", out, "profile_hot.py"])
    assert res.returncode == 0 and res.stderr == "", res
    st = pstats.Stats(str(out))
    hot = key_of(st.stats, SCRIPTS / "profile_hot.py", "hot")
    assert st.stats[hot][:2] == (1, 1)
    assert st.total_calls == sum(v[1] for v in st.stats.values()) > 0
    st.sort_stats("tottime")
    assert st.fcn_list[0] == hot, st.fcn_list[:3]
    res = run_python(["-m", "pstats", out], stdin="stats 5\nquit\n")
    assert res.returncode == 0, res
    assert "function calls" in res.stdout and "profile_hot.py:2(hot)" in res.stdout, res
    res = run_python(["-m", "pstats", out], stdin="sort tottime\nstats 1\nquit\n")
    assert res.returncode == 0, res
    listed = [l for l in res.stdout.splitlines() if re.match(r"\s*\d+(/\d+)?\s+\d", l)]
    assert len(listed) == 1 and listed[0].endswith("profile_hot.py:2(hot)"), res


def test_speedscope_file_follows_the_file_format(tmp_path):
    out, js = tmp_path / "p.speedscope.json", tmp_path / "p.json"
    res = run_profile(["-q", "--speedscope", out, "--json", js, "profile_threads.py"])
    assert res.returncode == 0, res
    doc = json.loads(out.read_text(encoding="utf-8"))
    report = json.loads(js.read_text(encoding="utf-8"))
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = doc["shared"]["frames"]
    assert isinstance(frames, list) and frames
    for fr in frames:
        assert isinstance(fr["name"], str) and fr["name"], fr
        if "line" in fr:
            assert isinstance(fr["line"], int) and isinstance(fr["file"], str)
    assert "fib" in {fr["name"] for fr in frames}
    assert len(doc["profiles"]) == len(report["threads"]) == 2
    assert 0 <= doc.get("activeProfileIndex", 0) < len(doc["profiles"])
    for prof in doc["profiles"]:
        assert prof["type"] == "evented"
        assert prof["unit"] in ("none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes")
        assert isinstance(prof["name"], str)
        events = prof["events"]
        assert events, prof["name"]
        stack, last = [], prof["startValue"]
        for ev in events:
            assert ev["type"] in ("O", "C"), ev
            assert isinstance(ev["frame"], int) and 0 <= ev["frame"] < len(frames), ev
            assert ev["at"] >= last, (ev, last)
            last = ev["at"]
            if ev["type"] == "O":
                stack.append(ev["frame"])
            else:
                assert stack and stack.pop() == ev["frame"], ev
        assert not stack, f"{prof['name']}: frames left open"
        assert prof["startValue"] <= events[0]["at"] and last <= prof["endValue"]
    fib = frames.index(next(fr for fr in frames if fr["name"] == "fib"))
    with_fib = [p["name"] for p in doc["profiles"] if any(e["frame"] == fib for e in p["events"])]
    assert with_fib == ["fibber"], with_fib


def test_folded_stacks_add_up_to_the_nodes_self_time(tmp_path):
    out, js = tmp_path / "p.folded", tmp_path / "p.json"
    res = run_profile(["-q", "--folded", out, "--json", js, "profile_hot.py"])
    assert res.returncode == 0, res
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines
    bad = [l for l in lines if not re.match(r"^.+ \d+$", l)]
    assert not bad, bad
    stacks = {l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1]) for l in lines}
    assert len(stacks) == len(lines), "one line per stack"
    assert all(n > 0 for n in stacks.values())
    report = json.loads(js.read_text(encoding="utf-8"))
    # A module's first line is its first statement's on 3.9 and 3.10, 1 after.
    top = only_function(report, "<module>")["line"]
    assert f"<module> (profile_hot.py:{top});hot (profile_hot.py:2)" in stacks, sorted(stacks)
    assert sum(stacks.values()) == sum(n["self_ns"] for n in report["nodes"] if n["function"] is not None)


@pytest.mark.parametrize("flags", [[], ["--icicle"]], ids=["flame", "icicle"])
def test_flamegraph_is_svg_naming_the_hottest_function(tmp_path, flags):
    out = tmp_path / "fg.svg"
    res = run_profile(["-q", "--flamegraph", out, *flags, "profile_hot.py"])
    assert res.returncode == 0, res
    text = out.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg"), root.tag
    assert "hot (profile_hot.py:2)" in text
    assert "profile_hot.py" in "".join(root.itertext())


def test_memory_is_charged_to_the_allocating_call(tmp_path):
    big = 2_000_000 * 8  # [None] * 2_000_000: that many pointers at least
    folded = tmp_path / "mem.folded"
    res, report, _ = profile_with_files(
        tmp_path, ["profile_alloc.py"], ["--memory", "--flamegraph-by", "alloc", "--folded", folded]
    )
    assert res.returncode == 0 and res.stdout == "2000000 [1, 2, 3]\n", res
    assert report["memory"] is True
    make_big = only_function(report, "make_big")
    [node] = nodes_of(report, make_big)
    assert node["alloc_bytes"] >= big and node["allocations"] >= 1, node
    assert make_big["alloc_bytes"] >= big
    [module] = nodes_of(report, only_function(report, "<module>"))
    assert module["alloc_bytes"] < big, "the list is make_big's, not its caller's"
    [small] = nodes_of(report, only_function(report, "small"))
    assert small["alloc_bytes"] < big
    stacks = {l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1]) for l in folded.read_text().splitlines()}
    top = only_function(report, "<module>")["line"]
    assert stacks[f"<module> (profile_alloc.py:{top});make_big (profile_alloc.py:2)"] == node["alloc_bytes"]
    svg = tmp_path / "mem.svg"
    res = run_profile(["-q", "--memory", "--flamegraph-by", "alloc", "--flamegraph", svg, "profile_alloc.py"])
    assert res.returncode == 0, res
    assert "make_big" in ET.tostring(ET.fromstring(svg.read_text(encoding="utf-8")), encoding="unicode")


# --- the command line ------------------------------------------------------------------------


def test_the_lesson_example():
    res = run_profile(["-c", "sum(range(1_000_000))"])
    assert res.returncode == 0, res
    assert res.stdout == ""
    assert re.search(r"\bsum\b", res.stderr), res
    assert "Traceback" not in res.stderr


def test_program_stdout_and_exit_code_pass_through(tmp_path):
    res = run_profile(["profile_exit.py"])
    assert res.returncode == 3, res
    assert res.stdout == "hello world\nline two\n", res
    assert "profile_exit.py" in res.stderr and "greet" in res.stderr
    res, report, _ = profile_with_files(tmp_path, ["profile_exit.py"])
    assert res.returncode == 3 and res.stdout == "hello world\nline two\n" and res.stderr == "", res
    assert report["outcome"]["status"] == "exited" and report["outcome"]["exit_code"] == 3
    assert only_function(report, "greet")["calls"] == 1


def test_timeout_stops_the_program_and_keeps_what_was_measured(tmp_path):
    res, report, _ = profile_with_files(tmp_path, ["sleeper.py"], ["--timeout", "1"])
    assert res.returncode == 124, res
    assert res.stdout == "work 499500\n"
    assert report["outcome"]["status"] == "timeout" and report["outcome"]["partial"] is True
    assert only_function(report, "work")["calls"] == 1


def test_flamegraph_by_alloc_needs_memory(tmp_path):
    svg = tmp_path / "fg.svg"
    res = run_profile(["--flamegraph-by", "alloc", "--flamegraph", svg, "profile_exit.py"])
    assert res.returncode == 1, res
    assert res.stdout == "", "the program never ran"
    lines = res.stderr.rstrip("\n").splitlines()
    assert lines[0].startswith("error: ") and "--memory" in lines[0], res
    assert len([l for l in lines if l.startswith("error: ")]) == 1, res
    assert len(lines) == 2 and lines[1].startswith("  hint: "), res
    assert "Traceback" not in res.stderr and "panicked" not in res.stderr
    assert not svg.exists()


def test_a_usage_error_hints_at_the_fix():
    res = run_profile(["--flamegraph-by", "alloc", "profile_exit.py"])
    assert res.returncode == 1, res
    hint = res.stderr.rstrip("\n").splitlines()[-1]
    assert hint.startswith("  hint: ") and "--memory" in hint and "refscope profile" in hint, res


@pytest.mark.parametrize("option", ["--json", "--pstats", "--speedscope", "--folded", "--flamegraph"])
def test_an_output_that_is_the_script_is_refused(tmp_path, option):
    script = tmp_path / "prog.py"
    script.write_text("print('ran')\n")
    res = run_profile([option, script, script], cwd=tmp_path)
    assert res.returncode == 1, res
    assert res.stdout == "", "the program never ran"
    assert res.stderr.startswith("error: ") and "prog.py" in res.stderr.splitlines()[0], res
    assert "Traceback" not in res.stderr
    assert script.read_text() == "print('ran')\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prog.py"]
