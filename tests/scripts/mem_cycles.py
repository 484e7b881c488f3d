import gc

gc.disable()


class Node:
    def __init__(self):
        self.other = None


def make(n):
    for _ in range(n):
        a = Node()
        b = Node()
        a.other = b
        b.other = a


make(500)
found = gc.collect()
print(found)
