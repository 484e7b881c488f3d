# pdb driven from stdin: step into a call, step over lines, print, continue.
import pdb
def f(a):
    b = a * 2
    c = b + 1
    return c
pdb.run("print(f(20))")
print("done")
