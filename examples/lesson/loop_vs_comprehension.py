# Lesson "Mini-Assignments" 3: compare timing of a for loop vs a list comprehension for the same task.
import timeit


def squares_loop(n):
    result = []
    for i in range(n):
        result.append(i * i)
    return result


def squares_comprehension(n):
    return [i * i for i in range(n)]


assert squares_loop(1000) == squares_comprehension(1000)  # same task, same answer

loop_time = timeit.timeit(lambda: squares_loop(10_000), number=200)
comp_time = timeit.timeit(lambda: squares_comprehension(10_000), number=200)

print("for loop:          ", round(loop_time, 4), "seconds")
print("list comprehension:", round(comp_time, 4), "seconds")
print("comprehension is", round(loop_time / comp_time, 2), "times as fast")
