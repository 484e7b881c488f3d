# A generator suspended at its yield while its consumer sleeps 0.1 s three times.
import time


def produce(n):
    for i in range(n):
        yield i


def consume():
    total = 0
    for value in produce(3):
        time.sleep(0.1)
        total += value
    return total


print("total", consume())
