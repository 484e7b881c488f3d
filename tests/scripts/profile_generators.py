# Generators consumed by for loops: refscope counts a generator once per generator made,
# cProfile once per resume (a generator of N items consumed by a for loop: N + 1).
def count_up(n):
    i = 0
    while i < n:
        yield i
        i += 1


def squares(n):
    for i in count_up(n):
        yield square(i)


def square(x):
    return x * x


total = 0
for k in range(1, 6):  # count_up(1) .. count_up(5): 15 items
    for v in count_up(k):
        total += v
for v in squares(10):  # one squares(), one count_up(10): 10 items each
    total += v
print("total", total)
