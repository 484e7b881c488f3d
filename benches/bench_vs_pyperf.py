"""`refscope bench` against `pyperf timeit`: same medians, a narrower interval, in less time?

Run:
    python benches/bench_vs_pyperf.py [--python PATH] [--rounds N] [--quick] [--json FILE]

pyperf must be installed in the tested interpreter (it is in tests/requirements.txt). Three statements
are timed by both tools, with each tool's defaults, one command per tool and statement:

    sum       sum(range(1000))
    listcomp  [i*i for i in range(1000)]
    forloop   out = []  /  for i in range(1000): out.append(i*i)

    pyperf    python -m pyperf timeit -o TMP/F.json STMT_LINE...   (20 worker processes by default;
              a multi-line statement is given as one argument per line, which pyperf joins with "\\n")
    refscope  python -m refscope bench --json TMP/F.json STMT      (one argument with a newline)

Each round times every statement with both tools, alternating which tool goes first, then runs
`refscope bench FORLOOP LISTCOMP` once (the for-loop is A, the baseline; the list comprehension is B)
for the verdict on the list comprehension against the for-loop. Commands run one after another, in a
temp dir as working directory. With --quick (smoke tests only) pyperf gets `-p 2 -n 3 -l 100` and
refscope `--time-budget 0.5`, so the targets below mean nothing then.

From each tool's raw per-loop values (pyperf: `runs[].values` of its JSON, warm-ups and the
calibration run, which has no values, left out; refscope: `statements[].samples`, all processes
pooled), the script computes the same figures for both tools:
  - median;
  - ±OS: half the width of the distribution-free 95% interval of the median, relative to the median
    (order statistics at the ranks from the exact Binomial(n, 1/2) distribution; fewer than 6
    values give [min, max]);
  - ±mean: pyperf's own kind of interval, 1.96 * stdev / sqrt(n) relative to the mean, for reference;
  - n, the values' count, and wall, the seconds the whole command took (startup included).
Each figure is the median over rounds. Then, per statement, the ratios refscope / pyperf, taken within
each round and then the median over rounds, with the targets:
    median ratio within 3% of 1;  ±OS ratio <= 1;  wall ratio <= 1/3;
and refscope's verdict on listcomp vs forloop in every round. --json FILE saves every value.
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

STATEMENTS = {
    "sum": ["sum(range(1000))"],
    "listcomp": ["[i*i for i in range(1000)]"],
    "forloop": ["out = []", "for i in range(1000): out.append(i*i)"],
}
TOOLS = ["pyperf", "refscope"]
QUICK_PYPERF = ["-p", "2", "-n", "3", "-l", "100"]
QUICK_REFSCOPE = ["--time-budget", "0.5"]
TARGET_MEDIAN = 0.03
TARGET_WIDTH = 1.0
TARGET_WALL = 1 / 3


def median_ci_ranks(n):
    """1-based ranks (j, n+1-j) of the 95% interval of the median: j is the largest rank with
    P(Binomial(n, 1/2) < j) <= 2.5%, computed exactly with integers. n < 6 gives (1, n)."""
    if n < 6:
        return 1, max(n, 1)
    total = 2 ** n
    cdf, j = 0, 1
    for k in range(n):
        cdf += math.comb(n, k)  # 2**n * P(X <= k)
        if cdf * 40 > total:  # P(X <= k) > 2.5%
            break
        j = k + 1  # P(X < k+1) = P(X <= k) <= 2.5%
    return j, n + 1 - j


def summarize(values):
    s = sorted(values)
    n = len(s)
    med = statistics.median(s)
    lo, hi = median_ci_ranks(n)
    mean = statistics.fmean(s)
    sd = statistics.stdev(s) if n > 1 else float("nan")
    return {
        "n": n,
        "median": med,
        "ci_low": s[lo - 1],
        "ci_high": s[hi - 1],
        "rel_os": (s[hi - 1] - s[lo - 1]) / 2 / med,
        "mean": mean,
        "rel_mean": 1.96 * sd / math.sqrt(n) / mean,
    }


def run(cmd, tmp):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def pyperf_values(path):
    """Per-loop values of every run: pyperf stores them already divided by loops * inner_loops.
    The calibration run has only warm-ups; warm-ups are (loops, value) pairs and are skipped."""
    data = json.loads(Path(path).read_text())
    (bench,) = data["benchmarks"]
    runs = [r["values"] for r in bench["runs"] if r.get("values")]
    loops = bench.get("metadata", {}).get("loops", data["metadata"].get("loops"))
    return [v for r in runs for v in r], {"processes": len(runs), "loops": loops}


def time_pyperf(python, name, quick, tmp, tag):
    out = Path(tmp) / f"pyperf-{tag}.json"  # pyperf refuses to overwrite an existing -o file
    cmd = [python, "-m", "pyperf", "timeit", *(QUICK_PYPERF if quick else []), "-o", str(out),
           *STATEMENTS[name]]
    wall = run(cmd, tmp)
    values, info = pyperf_values(out)
    return {"wall": wall, "values": values, **info, **summarize(values)}


def time_refscope(python, names, quick, tmp, tag):
    out = Path(tmp) / f"refscope-{tag}.json"
    stmts = ["\n".join(STATEMENTS[n]) for n in names]
    cmd = [python, "-m", "refscope", "bench", *(QUICK_REFSCOPE if quick else []), "--json", str(out),
           *stmts]
    wall = run(cmd, tmp)
    return wall, json.loads(out.read_text())


def refscope_result(wall, report):
    (st,) = report["statements"]
    values = [v for proc in st["samples"] for v in proc]
    res = {"wall": wall, "values": values, "processes": len(st["samples"]), "loops": st["loops"],
           "wall_seconds_reported": report["wall_seconds"], **summarize(values)}
    # Our recomputation must agree with refscope's own figures.
    for ours, theirs in (("median", "median"), ("ci_low", "ci_low"), ("ci_high", "ci_high")):
        if not math.isclose(res[ours], st[theirs], rel_tol=1e-9):
            print(f"warning: recomputed {ours} {res[ours]:.6g} != refscope's {st[theirs]:.6g}",
                  file=sys.stderr)
    return res


def fmt_time(s):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3f} {unit}"
    return f"{s / 1e-9:.3f} ns"


def span(xs, fmt):
    """median over rounds, with the range when there are several rounds."""
    m = fmt(statistics.median(xs))
    return m if len(xs) == 1 else f"{m} [{fmt(min(xs))}-{fmt(max(xs))}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter to test (default: this one)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="tiny settings for smoke tests (pyperf -p 2 -n 3 -l 100, refscope --time-budget 0.5)")
    ap.add_argument("--json", metavar="FILE", help="also save every value and the summary as JSON")
    opts = ap.parse_args()

    probe = subprocess.run(
        [opts.python, "-c", "import sys, pyperf, refscope; print(sys.version.split()[0], pyperf.__version__)"],
        capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit(f"{opts.python} cannot import pyperf and refscope:\n{probe.stderr.strip()}")
    version, pyperf_version = probe.stdout.split()
    print(f"Python {version} ({opts.python}), pyperf {pyperf_version}, {opts.rounds} round(s)"
          + (", QUICK settings (targets not meaningful)" if opts.quick else ", default settings"), flush=True)

    results = {n: {t: [] for t in TOOLS} for n in STATEMENTS}
    verdicts = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="refscope-vs-pyperf-") as tmp:
        for r in range(opts.rounds):
            for i, name in enumerate(STATEMENTS):
                order = TOOLS if (r + i) % 2 == 0 else TOOLS[::-1]
                for tool in order:
                    tag = f"{r}-{name}"
                    if tool == "pyperf":
                        res = time_pyperf(opts.python, name, opts.quick, tmp, tag)
                    else:
                        res = refscope_result(*time_refscope(opts.python, [name], opts.quick, tmp, tag))
                    results[name][tool].append(res)
                    print(f"round {r + 1}/{opts.rounds} {name:<8} {tool:<8} median {fmt_time(res['median'])}"
                          f"  ±{res['rel_os']:.2%}  n={res['n']}  {res['wall']:.1f} s", file=sys.stderr)
            wall, report = time_refscope(opts.python, ["forloop", "listcomp"], opts.quick, tmp, f"{r}-cmp")
            (cmp_,) = report["comparisons"]
            verdicts.append({k: cmp_[k] for k in ("verdict", "ratio", "ci_low", "ci_high", "text")}
                            | {"wall": wall})
            print(f"round {r + 1}/{opts.rounds} verdict: {cmp_['text']}", file=sys.stderr)
    total = time.perf_counter() - started

    med = lambda xs: statistics.median(xs)
    print("\nPer tool and statement (median over rounds; [range] with several rounds)")
    print(f"{'statement':<10}{'tool':<10}{'median':>12}{'±OS (95%)':>12}{'±mean':>10}{'n':>6}"
          f"{'procs':>7}{'loops':>8}{'wall s':>9}")
    for name in STATEMENTS:
        for tool in TOOLS:
            rs = results[name][tool]
            print(f"{name:<10}{tool:<10}{fmt_time(med([x['median'] for x in rs])):>12}"
                  f"{med([x['rel_os'] for x in rs]):>12.2%}{med([x['rel_mean'] for x in rs]):>10.2%}"
                  f"{med([x['n'] for x in rs]):>6g}{med([x['processes'] for x in rs]):>7g}"
                  f"{med([x['loops'] for x in rs]):>8g}{med([x['wall'] for x in rs]):>9.2f}")
    print("  ±OS: order-statistic 95% interval of the median, half-width / median (same for both tools)")
    print("  ±mean: 1.96*stdev/sqrt(n) / mean, pyperf's kind of interval, for reference")

    ratios = {}
    for name in STATEMENTS:
        p, s = results[name]["pyperf"], results[name]["refscope"]
        ratios[name] = {
            "median": [b["median"] / a["median"] for a, b in zip(p, s)],
            "width": [b["rel_os"] / a["rel_os"] if a["rel_os"] > 0 else float("inf") for a, b in zip(p, s)],
            "wall": [b["wall"] / a["wall"] for a, b in zip(p, s)],
        }
    checks = {
        "median": (lambda x: abs(x - 1) <= TARGET_MEDIAN, "within 3% of 1"),
        "width": (lambda x: x <= TARGET_WIDTH, "<= 1"),
        "wall": (lambda x: x <= TARGET_WALL, "<= 0.333"),
    }
    print("\nrefscope / pyperf (per-round ratio, median over rounds)")
    print(f"{'statement':<10}{'median ratio':>26}{'±OS width ratio':>26}{'wall ratio':>26}")
    met = {k: 0 for k in checks}
    for name, rt in ratios.items():
        cells = []
        for k, (ok, _) in checks.items():
            m = med(rt[k])
            met[k] += ok(m)
            cells.append(f"{span(rt[k], lambda x: f'{x:.3f}')} {'ok' if ok(m) else 'MISS'}")
        print(f"{name:<10}" + "".join(f"{c:>26}" for c in cells))

    print("\nrefscope bench FORLOOP LISTCOMP (B = listcomp vs A = forloop), per round:")
    for r, v in enumerate(verdicts):
        print(f"  round {r + 1}: {v['verdict']:<7} ratio {v['ratio']:.3f} ({v['ci_low']:.3f}-{v['ci_high']:.3f})"
              f"  {v['text']}  [{v['wall']:.1f} s]")
    counts = {k: sum(v["verdict"] == k for v in verdicts) for k in ("faster", "slower", "same")}
    print("  verdicts: " + ", ".join(f"{k} {c}" for k, c in counts.items()))

    print("\nTargets (median over rounds, every statement):")
    labels = {"median": "median ratio", "width": "interval width ratio", "wall": "wall time ratio"}
    for k, (_, text) in checks.items():
        status = "MET" if met[k] == len(STATEMENTS) else "MISSED"
        print(f"  {labels[k]:<22} {text:<16} {status} ({met[k]}/{len(STATEMENTS)} statements)")
    if opts.quick:
        print("  (--quick: tiny settings, not the tools' defaults; these targets mean nothing here)")
    print(f"\ntotal {total:.1f} s")

    if opts.json:
        out = {
            "python": opts.python, "version": version, "pyperf_version": pyperf_version,
            "rounds": opts.rounds, "quick": opts.quick, "statements": STATEMENTS,
            "results": results, "ratios": ratios, "verdicts": verdicts,
            "targets": {k: met[k] == len(STATEMENTS) for k in checks}, "total_seconds": total,
        }
        Path(opts.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {opts.json}")


if __name__ == "__main__":
    main()
