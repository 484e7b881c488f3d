# Lesson section 3 "Freeing memory: del, reassigning, and reference counts", not freed if another reference exists.
a = [1, 2, 3]
b = a
del a
print(b)  # still works, object still alive via b
