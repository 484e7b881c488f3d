a = 100
b = 100
c = 123456789
d = 123456789
e = int("123456789")
f = int("123456789")
g = None
print(a is b, c is d, e is f)
