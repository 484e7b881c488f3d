# Does some work, then leaves with os._exit(3): no interpreter shutdown, no atexit.
import os
import sys


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


print("work", work(1000))
sys.stdout.flush()
os._exit(3)
