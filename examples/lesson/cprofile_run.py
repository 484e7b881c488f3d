# Lesson section 6.4 "Profiling with cProfile (for bigger programs)".
import cProfile

cProfile.run("sum(range(1_000_000))")
