# make_big() allocates a list of 2,000,000 slots (16 MB of pointers) with no call in between.
def make_big():
    big = [None] * 2_000_000
    return len(big)


def small():
    return [1, 2, 3]


print(make_big(), small())
