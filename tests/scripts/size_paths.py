# Target of tests/integration/test_sizes.py: refscope.paths and refscope.whois run as a script
# (so the roots are `__main__` and the frames' locals). Prints one JSON object.
import json
import sys

import refscope


class Node:
    pass


registry = {"key": [0, 1, 2, Node()]}
x = [1, 2, 3]


def f():
    local_node = Node()
    return refscope.paths(local_node)


def outer():
    held = Node()

    def inner():
        return refscope.paths(held)

    return inner()


out = {
    "registry": refscope.paths(registry["key"][3]),
    "local": f(),
    "closure": outer(),
}

before = sys.getrefcount(x) - 1  # less getrefcount's own argument
w = refscope.whois(id(x))
after = sys.getrefcount(x) - 1 - 1  # less the argument and the reference w.obj holds
out["whois_x"] = {
    "is": w.obj is x,
    "id": w.id == id(x),
    "type": w.type,
    "refcount": w.refcount,
    "before": before,
    "after": after,
    "paths": w.paths,
}
node = registry["key"][3]
w = refscope.whois(id(registry["key"][3]))
out["whois_node"] = {"is": w.obj is node, "type": w.type, "paths": w.paths}
print(json.dumps(out))
