# Does some work, then crashes the interpreter by reading address 0.
import ctypes
import sys


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


print("work", work(1000))
sys.stdout.flush()
ctypes.string_at(0)
