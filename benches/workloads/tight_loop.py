"""Tight loop: integer arithmetic and a branch in a for loop (millions of line events)."""
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def checksum(n):
    total = 0
    for i in range(n):
        x = i * 3 + 1
        if x % 7 == 0:
            total += x
        else:
            total -= 1
    return total


def main():
    print(checksum(int(8_000_000 * SCALE)))


main()
