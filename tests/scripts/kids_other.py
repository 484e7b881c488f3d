# Started by kids_subprocess.py as a new interpreter.
import os
import sys


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


print("other", work(int(sys.argv[1]) * 100))
print("env", sorted(k for k in os.environ if "REFSCOPE" in k))
