# Prints to stdout, then sys.exit(3).
import sys


def greet(name):
    return "hello " + name


print(greet("world"))
print("line two")
sys.exit(3)
