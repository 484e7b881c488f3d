# A global cache that keeps growing: the census at exit should name `cache` as the top retainer.
cache = {}


class Node:
    def __init__(self, v):
        self.v = v
        self.payload = [v] * 50


def fill(n):
    for i in range(n):
        cache[i] = Node(i)


small = list(range(100))
fill(2000)
print("cached", len(cache))
