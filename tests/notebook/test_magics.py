"""The notebook magics in a real Jupyter kernel (ipykernel, driven by jupyter_client): every magic
runs, each output is a MIME bundle with the page, the terminal text and the report, and the
figures are right (a cell line's hits equal a settrace counter's; a size equals `refscope size`'s)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

BUNDLE = {"text/plain", "text/html"}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("nb")
    km = jupyter_client.KernelManager()  # the native kernel: this interpreter
    km.start_kernel(cwd=str(cwd))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def execute(kc, code: str, timeout: float = 120) -> dict:
    """Runs a cell: its display outputs, stream text and error, as the notebook would get them."""
    out: dict = {"displays": [], "stdout": "", "stderr": "", "error": None}
    msg_id = kc.execute(code)
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("display_data", "execute_result"):
            out["displays"].append(content["data"])
        elif kind == "stream":
            out[content["name"]] += content["text"]
        elif kind == "error":
            out["error"] = (content["ename"], content["evalue"])
        elif kind == "status" and content["execution_state"] == "idle":
            return out


def one_bundle(res: dict, schema: str) -> tuple[dict, dict]:
    assert res["error"] is None, res["error"]
    (data,) = res["displays"]
    key = f"application/vnd.refscope.{schema}+json"
    assert set(data) == BUNDLE | {key}, set(data)
    assert data["text/html"].startswith('<div class="refscope-output"') and "srcdoc=" in data["text/html"]
    return data, data[key]


def test_run_magic_counts_the_cells_lines_in_the_kernels_namespace(kernel):
    assert execute(kernel, "%load_ext refscope")["error"] is None
    assert execute(kernel, "def sq(x):\n    return x * x\n")["error"] is None
    cell = "total = 0\nfor i in range(250):\n    total += sq(i)\nprint(total)\n"
    res = execute(kernel, "%%refscope run --top 3\n" + cell)
    data, report = one_bundle(res, "run")
    assert res["stdout"].strip() == str(sum(i * i for i in range(250)))
    # What the cell defined stays defined.
    assert execute(kernel, "print(total)")["stdout"].strip() == str(sum(i * i for i in range(250)))
    # Hits of the cell's lines equal a settrace counter's over the same cell.
    counter = execute(
        kernel,
        "import sys, collections\n"
        "_hits = collections.Counter()\n"
        "def _t(frame, event, arg):\n"
        "    if event == 'line' and frame.f_code.co_filename == '<cell>':\n"
        "        _hits[frame.f_lineno] += 1\n"
        "    return _t\n"
        f"_c = compile({cell!r}, '<cell>', 'exec')\n"
        "sys.settrace(_t); exec(_c); sys.settrace(None)\n"
        "print(dict(_hits))",
    )
    want = eval(counter["stdout"].strip().splitlines()[-1])
    cells = [f for f in report["files"] if any(x["source"].strip() == "total += sq(i)" for x in f["lines"])]
    (f,) = cells
    assert {x["line"]: x["hits"] for x in f["lines"]} == want
    # Earlier cells' functions are yours too (ipykernel keeps cells beside each other).
    assert any(fn["name"] == "sq" and fn["calls"] == 250 for fn in report["functions"]), report["functions"]
    assert "total += sq(i)" in data["text/plain"] and "refscope run" in data["text/plain"]
    assert "\x1b[" not in data["text/plain"], "no colour in text/plain"
    assert "total += sq(i)" in data["text/html"]


def test_size_magic_equals_refscope_size(kernel):
    execute(kernel, "%load_ext refscope")
    execute(kernel, "rows = [list(range(k)) for k in range(60)]")
    _, report = one_bundle(execute(kernel, "%refscope size --top 5 rows"), "size")
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "refscope",
            "size",
            "-s",
            "rows = [list(range(k)) for k in range(60)]",
            "rows",
            "--json",
            "/dev/stdout",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    want = json.loads(cli.stdout[cli.stdout.index("{") :])
    for k in ("shallow", "deep", "retained", "objects"):
        assert report[k] == want[k], k
    # An unquoted expression with spaces is one expression.
    _, spaced = one_bundle(execute(kernel, "%refscope size [x for x in rows if len(x) > 50]"), "size")
    assert spaced["type_name"] == "list" and spaced["objects"] > 9


def test_bench_magics_compare_with_the_first_line(kernel):
    execute(kernel, "%load_ext refscope")
    execute(kernel, "xs = list(range(2000))")
    _, report = one_bundle(
        execute(kernel, "%%refscope bench --time-budget 0.5\nsum(xs)\nsorted(xs, key=lambda v: -v)\n"), "bench"
    )
    assert [s["stmt"] for s in report["statements"]] == ["sum(xs)", "sorted(xs, key=lambda v: -v)"]
    assert report["comparisons"][0]["verdict"] == "slower"
    _, one = one_bundle(execute(kernel, "%refscope bench --time-budget 0.2 -s 'ys = xs[:100]' sum(ys)"), "bench")
    assert one["statements"][0]["stmt"] == "sum(ys)" and one["statements"][0]["n"] >= 3


def test_profile_and_explain_magics(kernel):
    execute(kernel, "%load_ext refscope")
    execute(kernel, "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n")
    _, prof = one_bundle(execute(kernel, "%%refscope profile\nvalue = fib(12)\n"), "profile")
    assert {f["name"]: f["calls"] for f in prof["functions"]}["fib"] == 465
    assert execute(kernel, "print(value)")["stdout"].strip() == "144"
    _, story = one_bundle(execute(kernel, "%%refscope explain\na = [1, 2]\nb = a\n"), "explain")
    assert len(story["steps"]) == 2 and any(e["kind"] == "aliased" for e in story["steps"][1]["events"])


def test_bad_flags_are_a_usage_error_and_a_failing_cell_still_reports(kernel):
    execute(kernel, "%load_ext refscope")
    bad = execute(kernel, "%%refscope run --no-such-flag\nx = 1\n")
    # IPython prints a usage error on stderr, with no traceback.
    assert "UsageError" in bad["stderr"] and "--no-such-flag" in bad["stderr"], bad
    assert not bad["displays"]
    res = execute(kernel, "%%refscope run\ny = 1\n1 / 0\n")
    assert res["error"][0] == "ZeroDivisionError"
    (data,) = res["displays"]
    assert data["application/vnd.refscope.run+json"]["outcome"]["description"].startswith(
        "the block raised ZeroDivisionError"
    )
