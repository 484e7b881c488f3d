# Reads a name with input(), then echoes the rest of stdin line by line.
import sys

name = input("name? ")
print("hello", name)
for line in sys.stdin:
    print("line", line.rstrip("\n"))
