# Lesson section 3 "Freeing memory: del, reassigning, and reference counts", del removes the name.
x = [1, 2, 3]
print("id(x) =", id(x))
del x
# x is gone now (NameError if you print x)
