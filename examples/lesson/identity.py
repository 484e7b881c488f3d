# Lesson section 1 "id() — what it is and what it isn't", demo: object identity.
x = 10
print("x =", x)
print("id(x) =", id(x))
