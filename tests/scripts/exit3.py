# Ends with sys.exit(3): a normal shutdown with exit code 3.
import sys


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


print("work", work(100))
print("leaving with 3", file=sys.stderr)
sys.exit(3)
