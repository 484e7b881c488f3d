"""Native memory: blocks extension modules take from malloc (numpy's array data) charged to the
running line, beside Python's own; and what is still allocated at exit split into what grew, what
was set up once, and what CPython's free lists hold.

Oracles: numpy's own sizes (`nbytes`), the blocks numpy reports to tracemalloc in its own domain,
and the lesson's figures.
"""

from __future__ import annotations

import pytest
from conftest import line_of, run_python, run_refscope, script_file

MiB = 1 << 20

np = pytest.importorskip("numpy")


def lines(report: dict, name: str) -> dict:
    return {l["line"]: l for l in script_file(report, name)["lines"]}


def test_numpy_arrays_are_charged_to_their_lines(refscope_json):
    res, report = refscope_json(["native_numpy.py"], quiet=False)
    assert res.returncode == 0, res
    ls = lines(report, "native_numpy.py")
    ones, double, gone = (line_of("native_numpy.py", t) for t in ("a = np.ones", "b = a * 2", "del a"))
    nbytes = np.ones(10_000_000).nbytes
    assert ls[ones]["native_alloc_bytes"] >= nbytes, ls[ones]
    assert ls[double]["native_alloc_bytes"] >= nbytes, ls[double]
    assert ls[ones]["alloc_bytes"] >= 76 * MiB
    assert ls[double]["alloc_bytes"] >= 76 * MiB
    assert ls[gone]["freed_bytes"] >= 76 * MiB, ls[gone]
    assert ls[gone]["native_freed_bytes"] >= nbytes
    m = report["memory"]
    assert "native" in m["domains"]
    assert m["native_end_bytes"] >= nbytes, m["native_end_bytes"]
    # The peak holds both arrays at once: Python heap and native together.
    assert m["peak"]["bytes"] >= 2 * nbytes and m["peak"]["at"]["line"] == double, m["peak"]
    split = m["rss_end"]
    assert split["native_live_bytes"] >= nbytes, split
    assert split["rss_bytes"] >= split["native_live_bytes"], split
    assert "native, by your lines 76.3 MiB" in res.stderr + res.stdout


def test_the_pictures_draw_native_memory_above_the_heap(tmp_path):
    page = tmp_path / "r.html"
    res = run_refscope(["--html", page, "native_numpy.py"], env={"NO_COLOR": "1"})
    assert res.returncode == 0, res
    html = page.read_text(encoding="utf-8")
    assert '<polyline class="native" points="' in html
    assert "heap + native (extension modules' malloc and mmap)" in html
    assert "peak heap + native 1" in html
    assert "  heap + native " in res.stderr + res.stdout


def test_native_bytes_agree_with_what_numpy_tells_tracemalloc(refscope_json):
    plain = run_python(
        ["-c", "import os, runpy; os.environ['REFSCOPE_TEST_TRACEMALLOC'] = '1'; "
         "runpy.run_path('native_oracle.py', run_name='__main__')"]
    )
    assert plain.returncode == 0, plain
    numpy_live = int(plain.stdout.split()[-1])
    res, report = refscope_json(["native_oracle.py"])
    assert res.returncode == 0, res
    ls = lines(report, "native_oracle.py")
    kept = ls[line_of("native_oracle.py", "kept = [np.zeros")]
    want = sum(8_000 * (i + 1) for i in range(50))
    # Each array's data is its own block; numpy may round a request up a little.
    assert want <= kept["native_alloc_bytes"] <= want + 50 * 64, kept
    grid = ls[line_of("native_oracle.py", "grid = np.arange")]
    assert grid["native_alloc_bytes"] >= 24_000_000, grid
    freed = ls[line_of("native_oracle.py", "del grid")]
    assert freed["native_freed_bytes"] >= 24_000_000, freed
    # What is left at the end: the kept arrays, as numpy itself counts them, and a few raw blocks
    # of the interpreter's own (the raw domain is followed too).
    end = report["memory"]["native_end_bytes"]
    assert numpy_live <= end <= numpy_live + 64 * 1024, (end, numpy_live)


def test_threads_allocating_without_the_gil_lose_nothing(refscope_json):
    res, report = refscope_json(["native_threads.py"])
    assert res.returncode == 0, res
    assert res.stdout.split()[0] == "80"
    block = lines(report, "native_threads.py")[line_of("native_threads.py", "block = np.ones")]
    assert block["hits"] == 80
    assert block["native_alloc_bytes"] >= 80 * 4_000_000, block
    # Every array but the last of each thread was freed on a later pass of the same line.
    assert block["native_freed_bytes"] >= 76 * 4_000_000, block
    # The last array of each thread goes when the thread ends, outside any line: every free seen.
    outside = report["memory"]["outside"]
    assert block["native_freed_bytes"] + outside["native_freed_bytes"] >= 80 * 4_000_000, (block, outside)
    # What is left is the libraries' own: OpenBLAS's worker threads map a 32 MiB buffer each, and
    # whether the hooks are in place before a worker does depends on the thread's timing.
    end = report["memory"]["native_end_bytes"]
    assert end < 4_000_000 + outside["native_alloc_bytes"], (end, outside)


def test_program_output_is_unchanged_with_native_tracking():
    plain = run_python(["native_threads.py"])
    res = run_refscope(["-q", "native_threads.py"])
    assert res.returncode == plain.returncode == 0
    assert res.stdout == plain.stdout


def test_a_bytearray_line_is_charged_its_size(refscope_json):
    res, report = refscope_json(["big_bytearray.py"])
    assert res.returncode == 0, res
    line = lines(report, "big_bytearray.py")[1]
    assert line["alloc_bytes"] >= 50_000_000 and line["alloc_bytes"] < 50_000_000 + 4096, line


def test_free_lists_are_no_leak_candidates(refscope_json):
    res, report = refscope_json(["freelist_tuples.py"], quiet=False)
    assert res.returncode == 0, res
    m = report["memory"]
    mine = [s for s in m["survivors"] if s["at"]]
    assert all(s["bytes"] <= 1024 for s in mine), mine
    # d.items() made 2,000 pairs of 64 bytes; the tuple free list keeps up to 2,000 of that size.
    assert m["free_lists"]["blocks"] >= 1900 and m["free_lists"]["bytes"] >= 1900 * 56, m["free_lists"]
    assert "free lists hold" in res.stdout + res.stderr


def test_a_real_leak_comes_first_and_imports_apart(refscope_json):
    res, report = refscope_json(["real_leak.py"])
    assert res.returncode == 0, res
    survivors = report["memory"]["survivors"]
    first = survivors[0]
    assert first["at"]["line"] == line_of("real_leak.py", "kept.append") and first["grew"], survivors[:3]
    assert first["bytes"] >= 20_000 * 200, first
    imports = [s for s in survivors if s["at"] and s["at"]["line"] == line_of("real_leak.py", "import random")]
    assert imports and not imports[0]["grew"], imports
