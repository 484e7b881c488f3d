import threading

import numpy as np

out = []


def work():
    for _ in range(20):
        block = np.ones(500_000)  # 3.8 MiB each, numpy's data from malloc
        out.append(float(block.sum()))


threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(out), sum(out))
