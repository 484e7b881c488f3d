# Lesson section 6.2 "Line-by-line timing (great for teaching)", per-step timings.
import time

t0 = time.perf_counter()
a = [i*i for i in range(200_000)]
t1 = time.perf_counter()

b = sum(a)
t2 = time.perf_counter()

c = max(a)
t3 = time.perf_counter()

print("build list:", t1 - t0)
print("sum:", t2 - t1)
print("max:", t3 - t2)
