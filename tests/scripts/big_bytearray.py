buf = bytearray(50_000_000)
print(len(buf))
