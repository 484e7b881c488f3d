# Imported after numpy: its code objects are made while numpy's come and go.
def scale(a, k):
    out = a * k
    return out + 1
