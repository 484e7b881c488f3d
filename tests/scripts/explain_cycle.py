import gc

a = []
a.append(a)
del a
found = gc.collect()
print(found)
