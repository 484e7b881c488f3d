"""A small program with something for every part of the run page: hot lines, allocation, a GC
run, a cycle, and memory still held at exit."""

import gc


class Node:
    def __init__(self, value):
        self.value = value
        self.next = None


def build(n):
    out = []
    for i in range(n):
        out.append(str(i) * 3)
    return out


def churn(n):
    total = 0
    for i in range(n):
        total += len([i] * 10)
    return total


def cycles(n):
    for i in range(n):
        a, b = Node(i), Node(i)
        a.next, b.next = b, a
    return gc.collect()


kept = build(20_000)
print(churn(30_000), cycles(200), len(kept))
