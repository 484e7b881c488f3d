# Generators dropped while suspended at a yield: each of the 50 is still a call of its own.


def pair():
    yield 1
    yield 2


def take_first(times):
    total = 0
    for _ in range(times):
        gen = pair()
        total += next(gen)
    return total


print("first values", take_first(50))
