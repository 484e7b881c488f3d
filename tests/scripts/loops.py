# Nested for loops, a while loop, an if/else and a list comprehension: fixed iteration counts.
import sys


def triangle(n):
    total = 0
    for i in range(n):
        for j in range(i):
            total += j
    return total


def countdown(n):
    steps = 0
    while n > 0:
        if n % 3 == 0:
            n -= 2
        else:
            n -= 1
        steps += 1
    return steps


def even_squares(n):
    squares = [i * i for i in range(n) if i % 2 == 0]
    return sum(squares)


def main(argv):
    n = int(argv[0]) if argv else 30
    print("triangle", triangle(n))
    print("countdown", countdown(n))
    print("even squares", even_squares(n))


main(sys.argv[1:])
