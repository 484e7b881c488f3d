"""Call-heavy recursion: naive Fibonacci, hundreds of thousands of Python calls."""
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def main():
    total = 0
    for _ in range(max(1, int(500 * SCALE))):
        total += fib(20)
    print(total)


main()
