"""A stress loop for lines lost at random: a numpy script once lost its last lines (no hits, their
allocations charged to "outside your code") in about one run of fifteen. The cause was verdicts
kept by code-object address: a code object numpy's import made and freed left "not traced" at an
address that a later code object of yours could get. Verdicts now live on the code object."""

from __future__ import annotations

import sys

import pytest
from conftest import line_hits, line_of, run_with_json

RUNS = 120

pytestmark = pytest.mark.skipif(
    sys.version_info[:2] not in ((3, 11), (3, 13)), reason="the stress loop runs on 3.11 and 3.13"
)


def test_no_run_of_a_numpy_script_loses_a_line(tmp_path):
    pytest.importorskip("numpy")
    want = {line_of("numpy_tail.py", text): 1 for text in ("a = np.arange", "b = numpy_helper", "total =", "print(")}
    helper = {line_of("numpy_helper.py", "out = a * k"): 1, line_of("numpy_helper.py", "return out + 1"): 1}
    for i in range(RUNS):
        res, report = run_with_json(tmp_path, ["numpy_tail.py"])
        assert res.returncode == 0 and res.stdout == "total 149995000.0\n", res
        got = line_hits(report, "numpy_tail.py")
        assert {n: got.get(n) for n in want} == want, f"run {i}: {got}"
        got = line_hits(report, "numpy_helper.py")
        assert {n: got.get(n) for n in helper} == helper, f"run {i}: {got}"
        assert not report["outcome"]["partial"]
