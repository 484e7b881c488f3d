# Lesson section 6.3 "Benchmarking with timeit (most reliable)", timeit benchmark.
import timeit

t = timeit.timeit("sum(range(1000))", number=10000)
print("Total time:", t)
