import os
import tracemalloc

import numpy as np

watch = os.environ.get("REFSCOPE_TEST_TRACEMALLOC") == "1"
if watch:
    tracemalloc.start()
kept = [np.zeros(1_000 * (i + 1)) for i in range(50)]
grid = np.arange(3_000_000, dtype=np.int64).reshape(1000, 3000)
total = int(grid.sum()) + len(kept)
del grid
if watch:
    # numpy reports its data buffers to tracemalloc in a domain of its own.
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)])
    print(sum(t.size for t in snap.traces))
