"""`refscope heap`: census by type and top retainers, at exit or before a line."""

from __future__ import annotations

import json

from conftest import line_of, run


def run_heap(tmp_path, args):
    import sys

    out = tmp_path / "heap.json"
    res = run([sys.executable, "-m", "refscope", "heap", "--json", out, *args])
    return res, (json.loads(out.read_text()) if out.exists() and out.stat().st_size else None)


def test_census_at_exit_names_the_growing_cache(tmp_path):
    res, rep = run_heap(tmp_path, ["leaky_cache.py"])
    assert res.returncode == 0, res
    assert res.stdout == "cached 2000\n", "the report goes to stderr"
    types = {t["type_name"]: t for t in rep["by_type"]}
    assert types["Node"]["count"] == 2000
    # Every Node is kept alive by `cache` alone: all their bytes are retained.
    assert types["Node"]["retained"] == types["Node"]["bytes"] > 0
    assert types["list"]["retained"] >= 2000 * (56 + 50 * 8)  # the payload lists
    assert all(t["retained"] <= t["bytes"] for t in rep["by_type"])
    top = rep["retainers"][0]
    assert top["path"] == "__main__.cache", rep["retainers"][:3]
    # It alone keeps 2000 nodes, their payload lists and the dict alive.
    assert top["retained_objects"] >= 2000 * 2 + 1
    assert top["retained"] <= top["deep"]
    small = next(r for r in rep["retainers"] if r["path"] == "__main__.small")
    assert small["retained_objects"] == 1  # a list of small ints: the ints are shared
    assert rep["when"] == "exit"


def test_census_before_a_line_sees_the_heap_as_it_was(tmp_path):
    line = line_of("leaky_cache.py", "fill(2000)")
    res, rep = run_heap(tmp_path, ["--at", f"leaky_cache.py:{line}", "leaky_cache.py"])
    assert res.returncode == 0, res
    types = {t["type_name"]: t for t in rep["by_type"]}
    assert "Node" not in types, "no node exists before fill() runs"
    assert rep["when"].endswith(f"leaky_cache.py:{line}")
    assert res.stdout == "cached 2000\n", "the program still runs to the end"


def test_a_line_never_reached_is_one_clear_error(tmp_path):
    res, _rep = run_heap(tmp_path, ["--at", "leaky_cache.py:1", "leaky_cache.py"])
    assert res.returncode == 1, res
    assert res.stderr.startswith("error: no census was taken"), res
    assert "Traceback" not in res.stderr and "panicked" not in res.stderr


def test_bad_at_spec(tmp_path):
    res, _ = run_heap(tmp_path, ["--at", "leaky_cache.py", "leaky_cache.py"])
    assert res.returncode == 1 and res.stderr.startswith("error: --at takes FILE:LINE"), res
