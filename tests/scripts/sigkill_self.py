# Does some work, then kills itself with SIGKILL.
import os
import signal
import sys


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


print("work", work(1000))
sys.stdout.flush()
os.kill(os.getpid(), signal.SIGKILL)
