# Does some work, then sleeps far longer than any test waits (for --timeout).
import sys
import time


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


print("work", work(1000))
sys.stdout.flush()
time.sleep(30)
