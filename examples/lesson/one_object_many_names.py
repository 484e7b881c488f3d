# Lesson section 2 "Why you cannot get value from id reliably", ambiguity: one object, many names.
a = 100
b = 100

print("id(a) =", id(a))
print("id(b) =", id(b))
print("a is b:", a is b)
