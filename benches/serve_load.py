"""Load on `refscope serve`: N runs posted at once, every one must be answered.

    python benches/serve_load.py --runs 20               starts its own server (--port 0)
    python benches/serve_load.py --url URL --runs 20     against a running one (the printed URL)

Prints how many were answered, how many ran to a clean end, and the latency (median, max); --json
prints the same as one JSON object. Then, one at a time (--one-by-one N, default 7), the same run
through the API and as `refscope run --json` on the command line, and the ratio of their medians:
what the server adds to a run. Requests go to the server's loopback address only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

BODIES = [
    ("run", {"code": "total = 0\nfor i in range(20000):\n    total += i\nprint(total)\n"}),
    ("explain", {"code": "a = [1, 2, 3]\nb = a\nprint(b is a)\ndel a\n"}),
    ("size", {"code": "xs = [str(i) for i in range(1000)]", "expr": "xs"}),
    ("profile", {"code": "sorted(range(10000), key=lambda x: -x)\n"}),
]


def post(host: str, port: int, token: str, command: str, body: dict) -> tuple[int, dict | None, float]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=300)
    try:
        conn.request(
            "POST",
            f"/api/{command}",
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        r = conn.getresponse()
        doc = json.loads(r.read())
        return r.status, doc, time.perf_counter() - t0
    except (OSError, ValueError):
        return 0, None, time.perf_counter() - t0
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server's URL, token included (default: start one)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--one-by-one", type=int, default=7, metavar="N", help="sequential runs for the ratio (0: none)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    server = None
    url = a.url
    if url is None:
        server = subprocess.Popen(
            [sys.executable, "-m", "refscope", "serve", "--port", "0", "--no-browser"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        url = server.stdout.readline().split(": ", 1)[1].strip()
    parts = urlsplit(url)
    token = parts.query.split("token=", 1)[1]
    results: list = [None] * a.runs

    def one(i: int) -> None:
        command, body = BODIES[i % len(BODIES)]
        results[i] = (command, *post(parts.hostname, parts.port, token, command, body))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    api, cli = [], []
    command, body = BODIES[0]
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/snippet.py", "w") as f:
            f.write(body["code"])
        for _ in range(a.one_by_one):
            api.append(post(parts.hostname, parts.port, token, command, body)[2])
            c0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "refscope",
                    "run",
                    "-q",
                    "--json",
                    f"{d}/r.json",
                    "--html",
                    f"{d}/r.html",
                    "snippet.py",
                ],
                cwd=d,
                stdout=subprocess.DEVNULL,
                check=True,
            )
            cli.append(time.perf_counter() - c0)
    if server is not None:
        server.terminate()
        server.wait(30)
    answered = [r for r in results if r and r[1] == 200]
    ok = [r for r in answered if r[2]["exit_code"] == 0 and r[2]["limit"] is None and r[2]["report"]]
    lat = [r[3] for r in answered] or [0.0]
    out = {
        "runs": a.runs,
        "answered": len(answered),
        "ok": len(ok),
        "wall_s": round(wall, 3),
        "latency_median_s": round(statistics.median(lat), 3),
        "latency_max_s": round(max(lat), 3),
        "failed": [(r[0], r[1], r[2]) for r in results if r and r not in ok][:5],
    }
    if api:
        out["api_run_median_s"] = round(statistics.median(api), 3)
        out["cli_run_median_s"] = round(statistics.median(cli), 3)
        out["api_over_cli"] = round(statistics.median(api) / statistics.median(cli), 2)
    if a.json:
        print(json.dumps(out))
    else:
        print(
            f"{out['answered']}/{a.runs} answered, {out['ok']} clean, in {out['wall_s']} s; "
            f"latency median {out['latency_median_s']} s, max {out['latency_max_s']} s"
        )
        if api:
            print(
                f"one run at a time: API {out['api_run_median_s']} s, CLI {out['cli_run_median_s']} s "
                f"(median of {a.one_by_one}): the server's run takes {out['api_over_cli']}x the CLI's"
            )
    return 0 if out["answered"] == a.runs else 1


if __name__ == "__main__":
    sys.exit(main())
