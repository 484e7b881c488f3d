# Blocks that stay alive to the end, one kind per line (compared with tracemalloc).
import os

TRACEMALLOC = os.environ.get("REFSCOPE_TEST_TRACEMALLOC") == "1"
if TRACEMALLOC:
    import tracemalloc

    tracemalloc.start()

words = [str(i) * 3 for i in range(20000)]
table = {i: (i, -i) for i in range(5000)}
buffer = bytearray(300000)
rows = [[j] * 5 for j in range(3000)]
text = "x" * 100000
pairs = list(zip(words, words))

if TRACEMALLOC:
    import json

    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, __file__)])
    print(json.dumps({s.traceback[0].lineno: [s.size, s.count] for s in snapshot.statistics("lineno")}))
