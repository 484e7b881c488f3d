# Lesson section 1 "id() — what it is and what it isn't", demo: same object vs same value.
a = [1, 2, 3]
b = a
c = [1, 2, 3]

print(a is b)  # True  (same object)
print(a == c)  # True  (same value)
print(a is c)  # False (different objects)
