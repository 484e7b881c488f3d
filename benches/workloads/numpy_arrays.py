"""Array work: numpy temporaries made and dropped in a loop (their data is native memory)."""
import sys

import numpy as np

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def step(a):
    b = a * 2.0 + 1.0
    c = np.sqrt(b) - a / 3.0
    return float(c.sum())


def main():
    a = np.arange(200_000, dtype=np.float64)
    total = 0.0
    for i in range(max(5, int(150 * SCALE))):
        total += step(a + i)
        parts = [a[j : j + 1000].copy() for j in range(0, 20_000, 1000)]
        total += sum(float(p[0]) for p in parts)
    print(round(total, 3))


main()
