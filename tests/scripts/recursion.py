# Plain and mutual recursion. fib(n) makes 2 * fib(n + 1) - 1 calls: 1973 for n = 15.
import sys


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


n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
print("fib", n, fib(n))
print("even", is_even(25), "odd", is_odd(25))
