"""Allocation-heavy loop: builds strings, tuples, lists and dicts, dropped batch by batch."""
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def build_batch(start, size):
    rows = []
    index = {}
    for i in range(start, start + size):
        key = "user-" + str(i)
        row = (i, key, [i, i + 1, i + 2])
        rows.append(row)
        index[key] = {"row": row, "square": i * i, "name": key.upper()}
    return rows, index


def main():
    batch = 10_000
    count = 0
    for start in range(0, max(batch, int(600_000 * SCALE)), batch):
        rows, index = build_batch(start, batch)
        count += len(rows) + len(index)
    print(count)


main()
