"""How often does `refscope bench` call a difference between a statement and itself?

Run:
    python benches/bench_false_alarms.py [--python PATH] [--runs N] [--time-budget S] [--precision PCT]
                                         [-s SETUP] [--stmt STMT] [--json FILE]

Runs, N times (default 100), one after another in a temp dir:

    python -m refscope bench --json TMP/F.json --time-budget S -s SETUP STMT STMT

(default STMT `sum(xs)`, SETUP `xs = list(range(300))`, --time-budget 1.0; --precision is passed on
only when given). A and B are the same statement, so any `faster` or `slower` verdict is a false
alarm. Prints the counts of each verdict, the false-alarm rate with its 95% Wilson score interval,
the distribution of the ratio B/A and of its interval's bounds (quantiles and a text histogram), how
many ratio intervals exclude 1 at all (what the rate would be without the ±precision margin), and
the wall time per run. --json FILE saves every comparison.
"""

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wilson(k, n, z=1.96):
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def quantile(xs, q):
    """Linear-interpolated quantile (R's type 7), as refscope uses."""
    s = sorted(xs)
    h = (len(s) - 1) * q
    lo, hi = math.floor(h), math.ceil(h)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def histogram(xs, bins=12, width=40):
    lo, hi = min(xs), max(xs)
    if hi == lo:
        return [f"  {lo:.4f}  {'#' * min(width, len(xs))} {len(xs)}"]
    step = (hi - lo) / bins
    counts = [0] * bins
    for x in xs:
        counts[min(int((x - lo) / step), bins - 1)] += 1
    top = max(counts)
    return [f"  {lo + i * step:.4f}-{lo + (i + 1) * step:.4f} {'#' * round(c / top * width):<{width}} {c}"
            for i, c in enumerate(counts)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter to test (default: this one)")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--time-budget", type=float, default=1.0, help="passed to refscope bench (default 1.0)")
    ap.add_argument("--precision", type=float, help="passed to refscope bench when given (percent)")
    ap.add_argument("-s", "--setup", default="xs = list(range(300))")
    ap.add_argument("--stmt", default="sum(xs)")
    ap.add_argument("--json", metavar="FILE", help="also save every comparison as JSON")
    opts = ap.parse_args()

    extra = ["--precision", str(opts.precision)] if opts.precision is not None else []
    print(f"refscope bench --time-budget {opts.time_budget} {' '.join([*extra, ''])}-s {opts.setup!r} "
          f"{opts.stmt!r} {opts.stmt!r}  x {opts.runs}  ({opts.python})", flush=True)

    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="refscope-false-alarms-") as tmp:
        for r in range(opts.runs):
            out = Path(tmp) / f"run-{r}.json"
            cmd = [opts.python, "-m", "refscope", "bench", "--json", str(out), "--time-budget",
                   str(opts.time_budget), *extra, "-s", opts.setup, opts.stmt, opts.stmt]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                sys.exit(f"failed ({proc.returncode}): {cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
            report = json.loads(out.read_text())
            (c,) = report["comparisons"]
            rows.append({
                "verdict": c["verdict"], "ratio": c["ratio"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
                "n": [s["n"] for s in report["statements"]], "processes": report["processes"],
                "stop": report["stop"], "precision": report["precision"],
                "warnings": [w["kind"] for w in report["warnings"]], "wall": wall,
            })
            print(f"run {r + 1}/{opts.runs}: {c['verdict']:<6} ratio {c['ratio']:.4f} "
                  f"({c['ci_low']:.4f}-{c['ci_high']:.4f})  n={rows[-1]['n'][0]}  {wall:.2f} s",
                  file=sys.stderr)
    total = time.perf_counter() - started

    n = len(rows)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("same", "faster", "slower")}
    alarms = counts["faster"] + counts["slower"]
    lo, hi = wilson(alarms, n)
    excl = sum(not (r["ci_low"] <= 1 <= r["ci_high"]) for r in rows)
    elo, ehi = wilson(excl, n)
    ratios = [r["ratio"] for r in rows]
    print(f"\nverdicts over {n} runs: " + ", ".join(f"{v} {c}" for v, c in counts.items()))
    print(f"false-alarm rate: {alarms}/{n} = {alarms / n:.1%}  (95% Wilson interval {lo:.1%}-{hi:.1%})")
    print(f"ratio intervals excluding 1 (no ±{rows[0]['precision']:.1%} margin): {excl}/{n} = {excl / n:.1%}"
          f"  ({elo:.1%}-{ehi:.1%})")

    qs = (0, 0.05, 0.25, 0.5, 0.75, 0.95, 1)
    print("\nquantiles      " + "".join(f"{'min' if q == 0 else 'max' if q == 1 else f'{q:.0%}':>9}" for q in qs))
    for label, key in (("ratio B/A", "ratio"), ("ci_low", "ci_low"), ("ci_high", "ci_high")):
        xs = [r[key] for r in rows]
        print(f"{label:<15}" + "".join(f"{quantile(xs, q):>9.4f}" for q in qs))
    widths = [(r["ci_high"] - r["ci_low"]) / 2 for r in rows]
    print(f"{'ci half-width':<15}" + "".join(f"{quantile(widths, q):>9.4f}" for q in qs))
    if n > 1:
        print(f"ratio mean {statistics.fmean(ratios):.4f}, stdev {statistics.stdev(ratios):.4f}")
    print("\nratio B/A histogram")
    print("\n".join(histogram(ratios)))

    walls = [r["wall"] for r in rows]
    stops = {s: sum(r["stop"] == s for r in rows) for s in sorted({r["stop"] for r in rows})}
    warn = {}
    for r in rows:
        for k in r["warnings"]:
            warn[k] = warn.get(k, 0) + 1
    print(f"\nwall per run: median {statistics.median(walls):.2f} s (max {max(walls):.2f}); total {total:.1f} s")
    print("stopped by: " + ", ".join(f"{s} {c}" for s, c in stops.items())
          + ("; warnings: " + ", ".join(f"{k} {c}" for k, c in sorted(warn.items())) if warn else ""))

    if opts.json:
        out = {
            "python": opts.python, "stmt": opts.stmt, "setup": opts.setup, "time_budget": opts.time_budget,
            "precision": opts.precision, "runs": rows, "counts": counts, "false_alarm_rate": alarms / n,
            "wilson95": [lo, hi], "excluding_one": excl, "total_seconds": total,
        }
        Path(opts.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {opts.json}")


if __name__ == "__main__":
    main()
