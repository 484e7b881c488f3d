"""Slowdown of tracing tools versus plain Python, on four workloads.

Run:
    python benches/run_overhead.py [--python PATH] [--rounds N] [--quick] [--only NAME] [--json FILE]
                                   [--tools time|memory|profile]

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
    memray-native  python -m memray run --native --trace-python-allocators -q -f -o TMP/out.bin w.py
                   (native stacks: the anchor for the numpy workload, whose arrays are native memory)

`--tools memory` adds a fifth workload, numpy_arrays (needs numpy in the tested interpreter).

`--tools profile` compares function-level (call) profilers:

    plain             python w.py
    refscope-profile  python -m refscope profile -q w.py       (deterministic: counts every call)
    cProfile          python -m cProfile -o TMP/out.prof w.py  (deterministic)
    pyinstrument      python -m pyinstrument -o TMP/out.html -r html w.py   (sampling, every 1 ms)

Wall time of the whole process is measured (startup included, nothing subtracted). Each round runs
every workload under every tool in turn (plain, refscope, line_profiler, cProfile, plain, ...) so
machine noise hits all tools alike. After N rounds it prints the median startup time of each tool (an
empty script), a table of slowdowns (median tool time / median plain time) per workload, their
geometric mean per tool, and refscope's slowdown over its rivals' per workload and in geomean (< 1:
refscope is faster): refscope / line_profiler (time), refscope / memray (memory), refscope-profile /
cProfile and refscope-profile / pyinstrument (profile). Tools not installed in the tested interpreter
are skipped. Output files go to a temp dir, which is also the working directory, so no config file
(pyproject.toml) is picked up.
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
    "memory": ["plain", "refscope", "refscope-time", "tracemalloc", "memray", "memray-native"],
    "profile": ["plain", "refscope-profile", "cProfile", "pyinstrument"],
}
# Per tool set: the refscope tool measured against the others, and those others.
RIVALS = {
    "time": ("refscope", ["line_profiler"]),
    "memory": ("refscope", ["memray", "memray-native"]),
    "profile": ("refscope-profile", ["cProfile", "pyinstrument"]),
}
QUICK_SCALE = "0.02"
# Tools run on some workloads only (memray --native is the anchor where memory is native; on the
# pure-Python workloads it only adds its native stack unwinding to every allocation).
ONLY_ON = {"memray-native": {"numpy_arrays", "empty"}}

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
print("pyinstrument" if u.find_spec("pyinstrument") else "pyinstrument: not installed")
"""


def available_tools(python, wanted):
    lines = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split("\n")
    package = {t: t.split("-")[0] for t in wanted}  # refscope-time needs refscope, memray-native memray
    for line in lines:
        if ":" in line and line.split(":")[0] in package.values():
            print(f"{line}; skipped")
    always = ("plain", "cProfile", "tracemalloc")
    return [t for t in wanted if t in always or package[t] in lines]


def command(tool, python, script, args, tmp):
    if tool == "plain":
        return [python, script, *args]
    if tool == "refscope":
        return [python, "-m", "refscope", "run", "-q", script, *args]
    if tool == "refscope-time":
        return [python, "-m", "refscope", "run", "-q", "--no-memory", script, *args]
    if tool == "refscope-profile":
        return [python, "-m", "refscope", "profile", "-q", script, *args]
    if tool == "pyinstrument":
        return [python, "-m", "pyinstrument", "-o", f"{tmp}/out.html", "-r", "html", script, *args]
    if tool == "tracemalloc":
        return [python, "-X", "tracemalloc=1", script, *args]
    if tool == "memray":
        return [python, "-m", "memray", "run", "--trace-python-allocators", "-q", "-f", "-o", f"{tmp}/out.bin",
                script, *args]
    if tool == "memray-native":
        return [python, "-m", "memray", "run", "--native", "--trace-python-allocators", "-q", "-f", "-o",
                f"{tmp}/out.bin", script, *args]
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
    ap.add_argument("--only", choices=[*WORKLOADS, "numpy_arrays"], help="run only this workload")
    ap.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    ap.add_argument("--tools", choices=sorted(TOOL_SETS), default="time", help="which tools to compare")
    opts = ap.parse_args()

    tools = available_tools(opts.python, TOOL_SETS[opts.tools])
    extra = ["numpy_arrays"] if opts.tools == "memory" else []
    workloads = ["empty"] + ([opts.only] if opts.only else WORKLOADS + extra)
    args = [QUICK_SCALE] if opts.quick else []
    version = subprocess.run([opts.python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    print(f"Python {version} ({opts.python}), {opts.rounds} round(s){', quick sizes' if opts.quick else ''}")

    times = {w: {t: [] for t in tools if w in ONLY_ON.get(t, {w})} for w in workloads}
    with tempfile.TemporaryDirectory(prefix="refscope-bench-") as tmp:
        for r in range(opts.rounds):
            for w in workloads:
                script = str(WORKLOAD_DIR / f"{w}.py")
                expected = None
                for t in times[w]:
                    elapsed, out = run_once(command(t, opts.python, script, args, tmp), tmp)
                    times[w][t].append(elapsed)
                    expected = out if expected is None else expected
                    if out != expected:
                        print(f"warning: {w} under {t} printed {out!r}, plain printed {expected!r}")
            print(f"round {r + 1}/{opts.rounds} done", file=sys.stderr)

    med = {w: {t: statistics.median(v) for t, v in times[w].items()} for w in workloads}
    others = [t for t in tools if t != "plain"]
    subject, all_rivals = RIVALS[opts.tools]
    rivals = [r for r in all_rivals if subject in tools and r in tools]
    width = max([15] + [len(t) + 1 for t in others])  # refscope-profile needs 17

    print("\nStartup (empty script), median seconds:  "
          + "  ".join(f"{t} {med['empty'][t]:.3f}" for t in tools))
    header = f"{'workload':<12}{'plain (s)':>10}" + "".join(f"{t:>{width}}" for t in others)
    print("\nSlowdown vs plain (median tool time / median plain time)\n" + header
          + "".join(f"{'refscope/' + r:>{len(r) + 11}}" for r in rivals))
    slow = {w: {t: med[w][t] / med[w]["plain"] for t in others if t in med[w]} for w in workloads if w != "empty"}
    ratio = {r: {w: row[subject] / row[r] for w, row in slow.items() if r in row} for r in rivals}

    def cell(v, fmt, wide):
        return f"{'-':>{wide}}" if v is None else f"{v:>{wide}{fmt}}"

    for w, row in slow.items():
        line = f"{w:<12}{med[w]['plain']:>10.3f}" + "".join(
            cell(row.get(t), ".2f", width - 1) + ("x" if t in row else " ") for t in others)
        print(line + "".join(cell(ratio[r].get(w), ".2f", len(r) + 11) for r in rivals))
    gm = {t: geomean([row[t] for row in slow.values() if t in row]) for t in others}
    print(f"{'geomean':<12}{'':>10}" + "".join(f"{gm[t]:>{width - 1}.2f}x" for t in others)
          + "".join(f"{geomean(list(ratio[r].values())):>{len(r) + 11}.2f}" for r in rivals))

    if opts.json:
        result = {
            "python": opts.python, "version": version, "rounds": opts.rounds, "quick": opts.quick,
            "times": times, "median": med, "slowdown": slow, "geomean": gm,
        }
        for r in all_rivals:
            key = f"{subject.replace('-', '_')}_vs_{r}"
            result[key] = ratio.get(r, {})
            result[key + "_geomean"] = geomean(list(ratio[r].values())) if r in ratio else None
        Path(opts.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {opts.json}")


if __name__ == "__main__":
    main()
