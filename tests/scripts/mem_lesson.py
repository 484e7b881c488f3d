big = [i for i in range(1_000_00)]
big = None
print("done")
