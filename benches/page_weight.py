"""Page weight and open time of `refscope run --html` pages, in headless Chromium.

Makes the page of examples/hotspots.py and of a generated 10,000-line program, then opens each
several times and reports its size and the median time to the load event (parse, styles,
scripts) and to the first paint. Run: python benches/page_weight.py [--python PY] [--loads N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def big_program(path: Path, lines: int) -> None:
    """`lines` lines of functions that each run (so every row has figures) and allocate a little."""
    out, n = [], 0
    while len(out) < lines - 2:
        out += [f"def f{n}(x):", f"    y = [x] * {n % 7 + 1}", "    z = len(y) + x", "    return z", ""]
        n += 1
    out.append(f"for i in range({n}):")
    out.append("    globals()[f'f{i}'](i)")
    path.write_text("\n".join(out) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="an interpreter with refscope installed")
    ap.add_argument("--loads", type=int, default=7)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        big = d / "big.py"
        big_program(big, 10_000)
        pages = {}
        for name, script in [("examples/hotspots.py", REPO / "examples" / "hotspots.py"), ("10,000-line program", big)]:
            out = d / (script.stem + ".html")
            subprocess.run(
                [args.python, "-m", "refscope", "run", "-q", "--html", str(out), str(script)],
                check=True,
                stdout=subprocess.DEVNULL,
                cwd=d,
            )
            pages[name] = out
        with sync_playwright() as p:
            b = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            print(f"{'page':<22} {'size':>10} {'rows':>7} {'load (median)':>14} {'first paint':>12}")
            for name, path in pages.items():
                loads, paints = [], []
                for _ in range(args.loads):
                    pg = b.new_page()
                    pg.goto(path.as_uri(), wait_until="load")
                    nav = pg.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
                    paint = pg.evaluate(
                        "(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN}).startTime"
                    )
                    loads.append(nav["loadEventEnd"])
                    paints.append(paint)
                    rows = pg.eval_on_selector_all("tr[id^='L']", "r => r.length")
                    pg.close()
                size = path.stat().st_size
                print(
                    f"{name:<22} {size / 1024:>8.0f} KiB {rows:>7} {statistics.median(loads):>11.0f} ms"
                    f" {statistics.median(paints):>9.0f} ms"
                )
            b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
