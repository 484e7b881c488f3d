# The program counts its own lines with the stdlib `trace` module (sys.settrace + threading.settrace).
import sys
import trace


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


t = trace.Trace(count=1, trace=0)
t.runfunc(work, 5)
counts = t.results().counts
print(sorted((line, n) for (path, line), n in counts.items() if path == __file__))
print("after:", work(3), sys.gettrace())
