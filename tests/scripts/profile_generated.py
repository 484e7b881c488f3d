# Functions compiled from a string under a pseudo file name (as namedtuple, dataclasses and
# templating engines make them): outer() calls inner() twice.
SOURCE = """
def inner(x):
    return x + 1


def outer(x):
    return inner(x) + inner(x + 1)
"""

ns = {}
exec(compile(SOURCE, "<generated>", "exec"), ns)
total = 0
for i in range(5):
    total += ns["outer"](i)
print("total", total)
