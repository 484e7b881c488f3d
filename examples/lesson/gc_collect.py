# Lesson section 4 "Garbage collection: when gc matters (cycles)", requesting a collection with gc.collect().
import gc

collected = gc.collect()
print("Collected objects:", collected)
