import numpy as np
a = np.ones(10_000_000)     # 76 MiB
b = a * 2                   # 76 MiB
del a                       # frees 76 MiB
s = float(b.sum())
