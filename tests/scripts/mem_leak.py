cache = []


def handle(i):
    cache.append(bytearray(1000))  # the leak
    return i * 2


for i in range(3000):
    handle(i)
