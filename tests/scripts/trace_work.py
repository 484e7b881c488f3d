"""Work measured two ways: by `refscope run` (as a script) and by `refscope.trace()` (in-process)."""

import sys


def work(n):
    words = []
    for i in range(n):
        words.append(str(i) * 2)
    total = 0
    for w in words:
        if len(w) % 3 == 0:
            total += 1
    table = {w: len(w) for w in words}
    return total, len(table)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


if __name__ == "__main__":
    if sys.argv[1:] == ["trace"]:
        import refscope

        with refscope.trace() as t:
            work(3000)
            fib(12)
        print(t.report.to_json())
    else:
        work(3000)
        fib(12)
