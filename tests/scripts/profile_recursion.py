# Plain and mutual recursion for `refscope profile`: fib(15) makes 1973 calls (1 not recursive),
# is_even(25) and is_odd(24) call each other down to 0.
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def is_even(n):
    if n == 0:
        return True
    return is_odd(n - 1)


def is_odd(n):
    if n == 0:
        return False
    return is_even(n - 1)


def depth(tree):
    # Recursion through a builtin: max() of a list built from recursive calls.
    if not tree:
        return 0
    return 1 + max([depth(t) for t in tree])


print("fib", fib(15))
print("even", is_even(25), "odd", is_odd(24))
print("depth", depth([[[], [[]]], []]))
