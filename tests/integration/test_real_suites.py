"""The test suites of real libraries, run as their projects run them, give every line of the library's
source tree (its tests included) the hits a `sys.settrace` line counter gives it: more-itertools with
unittest (its doctests included, through `load_tests`) and toolz with pytest.

Each library's sdist is fetched once from PyPI (`pip download`, pinned) into .cache/suites/, which
git ignores. Both runs have the same environment: PYTHONHASHSEED=0 and `random` seeded at startup
(tests/tools/seeded/sitecustomize.py), so the suites' randomised tests run the same lines twice. The
only lines left out are those of code whose hits depend on the clock (listed per suite)."""

from __future__ import annotations

import ast
import fcntl
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, TESTS, Result, run

# Minutes per version: on 3.11 and 3.13, the two tracing backends (sys.settrace, sys.monitoring).
pytestmark = pytest.mark.skipif(sys.version_info[:2] not in ((3, 11), (3, 13)), reason="heavy: 3.11 and 3.13")

COUNTER = TESTS / "tools" / "settrace_counter.py"
SEEDED = TESTS / "tools" / "seeded"
CACHE = REPO / ".cache" / "suites"
# A suite runs for seconds; under the settrace counter on a loaded machine, for tens of seconds.
SUITE_TIMEOUT = 600
SHOWN = 30

# What pip prints when it cannot reach the index (as opposed to a download or build that failed).
UNREACHABLE = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ProxyError",
)


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    argv: tuple  # after `python` / `refscope run ...`, in the unpacked sdist
    # {file: [qualname]}: code whose hits depend on the clock (a thread and a queue polled with a
    # timeout), so that two runs of the same program differ there; left out of the comparison.
    clock_dependent: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name}-{self.version}"


SUITES = [
    # 817 tests, 153 of them doctests; pure Python, supports 3.8+.
    Suite(
        "more-itertools",
        "10.5.0",
        ("-m", "unittest"),
        clock_dependent={
            "more_itertools/more.py": ["callback_iter._reader"],
            "tests/test_more.py": ["CallbackIterTests"],
        },
    ),
    # 180 tests; pure Python, supports 3.8+. `-c setup.cfg --rootdir .`: pytest's configuration is
    # the sdist's, not the pyproject.toml of the repository the cache is in.
    Suite(
        "toolz",
        "1.0.0",
        ("-m", "pytest", "-p", "no:cacheprovider", "-c", "setup.cfg", "--rootdir", ".", "toolz/tests"),
    ),
]


def fetch(name: str, version: str) -> Path:
    """The unpacked sdist of NAME==VERSION under .cache/suites/, downloaded by the first test that
    needs it (a lock keeps parallel runs from racing); skips when the package index is unreachable."""
    CACHE.mkdir(parents=True, exist_ok=True)
    root = CACHE / f"{name}-{version}"
    with open(CACHE / f"{name}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if root.is_dir():
            return root
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            p = subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                 "--retries", "2", "--dest", tmp, f"{name}=={version}"],
                capture_output=True, text=True, timeout=SUITE_TIMEOUT,
            )
            if p.returncode != 0:
                output = p.stdout + p.stderr
                if any(s in output for s in UNREACHABLE):
                    pytest.skip(f"the package index is unreachable, cannot download {name}=={version}:\n{output}")
                pytest.fail(f"pip download {name}=={version} failed (exit code {p.returncode}):\n{output}")
            [archive] = Path(tmp).glob("*.tar.gz")
            unpacked = Path(tmp) / "src"
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(unpacked, filter="data")
                else:
                    tar.extractall(unpacked)
            [top] = unpacked.iterdir()
            top.rename(root)
    return root


def summary(res: Result) -> list:
    """The suite's verdict, without timings: `Ran N tests` and `OK (...)`, or pytest's `N passed`."""
    out = []
    for line in (res.stdout + res.stderr).splitlines():
        if m := re.match(r"Ran (\d+ tests?) in ", line):
            out.append(f"Ran {m[1]}")
        elif re.match(r"(OK|FAILED)( \(.*\))?$", line):
            out.append(line)
        elif m := re.match(r"=+ (\d+ \w+.*) in [\d.]+s\b.* =+$", line):
            out.append(m[1])
    return out


def hits_of(pairs, root: Path) -> dict:
    """{(real path, line): hits} for the files under ROOT, lines with hits only."""
    top = os.path.realpath(root) + os.sep
    hits = {}
    for path, line, n in pairs:
        path = os.path.realpath(path)
        if n and path.startswith(top):
            hits[path, line] = n
    return hits


def oracle_hits(out: Path, root: Path) -> dict:
    pairs = []
    for key, n in json.loads(out.read_text()).items():
        path, _, line = key.rpartition(":")
        pairs.append((path, int(line), n))
    return hits_of(pairs, root)


def refscope_hits(report: dict, root: Path) -> dict:
    return hits_of(((f["path"], l["line"], l["hits"]) for f in report["files"] for l in f["lines"]), root)


def lines_of(root: Path, rel: str, qualname: str) -> set:
    """(real path, line) of every line of the class or function QUALNAME in ROOT/REL."""
    path = root / rel
    body = ast.parse(path.read_text(encoding="utf-8")).body
    node = None
    for name in qualname.split("."):
        [node] = [
            n for n in body
            if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
        ]
        body = node.body
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return {(os.path.realpath(path), l) for l in range(first, node.end_lineno + 1)}


def mismatches(want: dict, got: dict, root: Path) -> tuple:
    """(how many lines differ, the first SHOWN of them as `file:line: both counts  source`)."""
    bad = [k for k in sorted(set(want) | set(got)) if want.get(k, 0) != got.get(k, 0)]
    shown, sources = [], {}
    for path, line in bad[:SHOWN]:
        if path not in sources:
            sources[path] = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        text = sources[path][line - 1].strip() if 0 < line <= len(sources[path]) else ""
        rel = os.path.relpath(path, os.path.realpath(root))
        shown.append(f"{rel}:{line}: settrace {want.get((path, line), 0)}, refscope {got.get((path, line), 0)}  {text}")
    return len(bad), shown


@pytest.mark.parametrize("suite", SUITES, ids=str)
def test_a_real_suite_has_the_hits_a_settrace_counter_counts(tmp_path, suite):
    root = fetch(suite.name, suite.version)
    env = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(SEEDED)}
    kw = {"cwd": root, "env": env, "timeout": SUITE_TIMEOUT}

    oracle_out = tmp_path / "oracle.json"
    plain = run([sys.executable, COUNTER, oracle_out, root, *suite.argv], **kw)
    report_out = tmp_path / "report.json"
    res = run([sys.executable, "-m", "refscope", "run", "-q", "--json", report_out,
               "--include", f"{root}/**", *suite.argv], **kw)

    assert res.returncode == plain.returncode, f"--- settrace counter\n{plain}\n--- refscope\n{res}"
    assert summary(plain), f"no test summary in the output\n{plain}"
    assert summary(res) == summary(plain), f"--- settrace counter\n{plain}\n--- refscope\n{res}"
    report = json.loads(report_out.read_text())
    assert not report["outcome"]["partial"], res

    want, got = oracle_hits(oracle_out, root), refscope_hits(report, root)
    left_out = set()
    for rel, names in suite.clock_dependent.items():
        for qualname in names:
            left_out |= lines_of(root, rel, qualname)
    want = {k: n for k, n in want.items() if k not in left_out}
    got = {k: n for k, n in got.items() if k not in left_out}
    assert len(want) > 1000, f"the settrace counter counted only {len(want)} lines\n{plain}"
    n, shown = mismatches(want, got, root)
    assert n == 0, f"{n} of {len(set(want) | set(got))} lines differ ({' / '.join(summary(plain))}):\n" + "\n".join(
        shown
    )


def test_the_terminal_report_of_a_real_suite_fits_a_screen():
    # toolz's 180 tests: thousands of lines ran; the default report shows the ones that matter.
    suite = next(s for s in SUITES if s.name == "toolz")
    root = fetch(suite.name, suite.version)
    env = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(SEEDED), "NO_COLOR": "1"}
    kw = {"cwd": root, "env": env, "timeout": SUITE_TIMEOUT}
    res = run([sys.executable, "-m", "refscope", "run", "--include", f"{root}/**", *suite.argv], **kw)
    assert summary(res), res
    report_lines = res.stderr.splitlines()
    [shown] = [l for l in report_lines if l.startswith("Shown: ")]
    m = re.match(r"Shown: ([\d,]+) of ([\d,]+) lines that ran", shown)
    kept, ran = (int(g.replace(",", "")) for g in m.groups())
    assert ran > 2000 and kept < ran / 5, shown
    assert len(report_lines) < 600, len(report_lines)
    full = run([sys.executable, "-m", "refscope", "run", "--full", "--include", f"{root}/**", *suite.argv], **kw)
    assert len(full.stderr.splitlines()) > ran, "--full prints every line that ran"
