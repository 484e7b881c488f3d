"""Slowdown of tracing tools versus plain Python, on four workloads.

Run:
    python benches/run_overhead.py [--python PATH] [--rounds N] [--quick] [--only NAME] [--json FILE]
                                   [--tools time|memory]

Each workload in benches/workloads/ runs as its own process under each tool, with the same interpreter.
`--tools time` (the default) compares line-level time profilers:

    plain          python w.py
    refscope       python -m refscope run -q w.py              (time and memory, the default)
    line_profiler  python -m kernprof -l -q -p w.py -o TMP/w.lprof w.py   (autoprofile: every function
                   and method of w.py; module-level code and lambdas are not profiled)
    cProfile       python -m cProfile -o TMP/w.prof w.py

`--tools memory` compares memory tracers:

    plain          python w.py
    refscope       python -m refscope run -q w.py              (time and memory together)
    refscope-time  python -m refscope run -q --no-memory w.py
    tracemalloc    python -X tracemalloc=1 w.py
    memray         python -m memray run --trace-python-allocators -q -f -o TMP/out.bin w.py

Wall time of the whole process is measured (startup included, nothing subtracted). Each round runs
every workload under every tool in turn (plain, refscope, line_profiler, cProfile, plain, ...) so
machine noise hits all tools alike. After N rounds it prints the median startup time of each tool (an
empty script), a table of slowdowns (median tool time / median plain time) per workload, their
geometric mean per tool, and refscope / line_profiler per workload and in geomean (< 1: refscope is
faster). Tools not installed in the tested interpreter are skipped. Output files go to a temp dir,
which is also the working directory, so no config file (pyproject.toml) is picked up.
Workloads take one optional argument, a size scale (1.0 = ~0.3-1 s plain on CPython 3.11).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"
WORKLOADS = ["tight_loop", "fib", "alloc", "mixed"]
TOOL_SETS = {
    "time": ["plain", "refscope", "line_profiler", "cProfile"],
    "memory": ["plain", "refscope", "refscope-time", "tracemalloc", "memray"],
}
QUICK_SCALE = "0.02"

# Prints the optional tools the interpreter under test can run, or why not.
PROBE = """
import importlib.util as u
print("refscope" if u.find_spec("refscope") else "refscope: not installed")
if not (u.find_spec("kernprof") and u.find_spec("line_profiler")):
    print("line_profiler: not installed")
else:
    import line_profiler
    v = tuple(int(p) for p in line_profiler.__version__.split(".")[:2])
    print("line_profiler" if v >= (4, 1) else f"line_profiler: {line_profiler.__version__} has no -p, need >= 4.1")
print("memray" if u.find_spec("memray") else "memray: not installed")
"""


def available_tools(python, wanted):
    lines = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split("\n")
    for line in lines:
        if ":" in line and line.split(":")[0] in wanted:
            print(f"{line}; skipped")
    always = ("plain", "cProfile", "tracemalloc")
    return [t for t in wanted if t in always or t in lines or (t == "refscope-time" and "refscope" in lines)]


def command(tool, python, script, args, tmp):
    if tool == "plain":
        return [python, script, *args]
    if tool == "refscope":
        return [python, "-m", "refscope", "run", "-q", script, *args]
    if tool == "refscope-time":
        return [python, "-m", "refscope", "run", "-q", "--no-memory", script, *args]
    if tool == "tracemalloc":
        return [python, "-X", "tracemalloc=1", script, *args]
    if tool == "memray":
        return [python, "-m", "memray", "run", "--trace-python-allocators", "-q", "-f", "-o", f"{tmp}/out.bin",
                script, *args]
    if tool == "line_profiler":
        return [python, "-m", "kernprof", "-l", "-q", "-p", script, "-o", f"{tmp}/out.lprof", script, *args]
    return [python, "-m", "cProfile", "-o", f"{tmp}/out.prof", script, *args]


def run_once(cmd, tmp):
    env = {k: v for k, v in os.environ.items() if k != "LINE_PROFILER_RC"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter to test (default: this one)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    ap.add_argument("--only", choices=WORKLOADS, help="run only this workload")
    ap.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    ap.add_argument("--tools", choices=sorted(TOOL_SETS), default="time", help="which tools to compare")
    opts = ap.parse_args()

    tools = available_tools(opts.python, TOOL_SETS[opts.tools])
    workloads = ["empty"] + ([opts.only] if opts.only else WORKLOADS)
    args = [QUICK_SCALE] if opts.quick else []
    version = subprocess.run([opts.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    print(f"Python {version} ({opts.python}), {opts.rounds} round(s){', quick sizes' if opts.quick else ''}")

    times = {w: {t: [] for t in tools} for w in workloads}
    with tempfile.TemporaryDirectory(prefix="refscope-bench-") as tmp:
        for r in range(opts.rounds):
            for w in workloads:
                script = str(WORKLOAD_DIR / f"{w}.py")
                expected = None
                for t in tools:
                    elapsed, out = run_once(command(t, opts.python, script, args, tmp), tmp)
                    times[w][t].append(elapsed)
                    expected = out if expected is None else expected
                    if out != expected:
                        print(f"warning: {w} under {t} printed {out!r}, plain printed {expected!r}")
            print(f"round {r + 1}/{opts.rounds} done", file=sys.stderr)

    med = {w: {t: statistics.median(v) for t, v in times[w].items()} for w in workloads}
    others = [t for t in tools if t != "plain"]
    rival = "line_profiler" if opts.tools == "time" else "memray"
    both = "refscope" in tools and rival in tools

    print("\nStartup (empty script), median seconds:  "
          + "  ".join(f"{t} {med['empty'][t]:.3f}" for t in tools))
    header = f"{'workload':<12}{'plain (s)':>10}" + "".join(f"{t:>15}" for t in others)
    print("\nSlowdown vs plain (median tool time / median plain time)\n" + header
          + (f"{'refscope/' + rival[:6]:>16}" if both else ""))
    slow = {w: {t: med[w][t] / med[w]["plain"] for t in others} for w in workloads if w != "empty"}
    for w, row in slow.items():
        line = f"{w:<12}{med[w]['plain']:>10.3f}" + "".join(f"{row[t]:>14.2f}x" for t in others)
        print(line + (f"{row['refscope'] / row[rival]:>16.2f}" if both else ""))
    gm = {t: geomean([row[t] for row in slow.values()]) for t in others}
    rs_lp = {w: row["refscope"] / row[rival] for w, row in slow.items()} if both else {}
    print(f"{'geomean':<12}{'':>10}" + "".join(f"{gm[t]:>14.2f}x" for t in others)
          + (f"{geomean(list(rs_lp.values())):>16.2f}" if both else ""))

    if opts.json:
        result = {
            "python": opts.python, "version": version, "rounds": opts.rounds, "quick": opts.quick,
            "times": times, "median": med, "slowdown": slow, "geomean": gm,
            f"refscope_vs_{rival}": rs_lp,
            f"refscope_vs_{rival}_geomean": geomean(list(rs_lp.values())) if both else None,
        }
        Path(opts.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {opts.json}")


if __name__ == "__main__":
    main()
