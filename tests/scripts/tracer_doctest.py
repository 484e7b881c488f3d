# doctest saves the trace function, runs examples under its own debugger hooks, then puts it back.
import doctest


def double(x):
    """
    >>> double(2)
    4
    >>> [double(i) for i in range(3)]
    [0, 2, 4]
    """
    return 2 * x


def after(n):
    s = 0
    for i in range(n):
        s += double(i)
    return s


print(doctest.testmod())
print(after(10))
