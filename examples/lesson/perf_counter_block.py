# Lesson section 6.1 "High-precision timing with perf_counter", block timing.
import time

start = time.perf_counter()
x = sum(range(1_000_000))
end = time.perf_counter()

print("Time:", end - start, "seconds")
