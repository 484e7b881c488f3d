# What doctest, pdb and many test helpers do: save the trace function and put it back.
import sys


def f():
    return 1


f()
sys.settrace(sys.gettrace())
f()
f()
