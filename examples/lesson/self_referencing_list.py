# Lesson section 4 "Garbage collection: when gc matters (cycles)", cycle example.
a = []
a.append(a)   # a refers to itself (cycle)
print("cycle created")
