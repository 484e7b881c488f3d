# A trace function that raises: CPython removes it and the exception propagates.
import sys


def tracer(frame, event, arg):
    if event == "line" and frame.f_code.co_name == "victim":
        raise RuntimeError("from the tracer")
    return tracer


def victim():
    x = 1
    return x


sys.settrace(tracer)
try:
    victim()
except RuntimeError as e:
    print("caught:", e, sys.gettrace())
print(victim())
