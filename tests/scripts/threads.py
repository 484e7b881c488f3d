# Three threads doing fixed work; results printed in a fixed order after joining.
import threading

results = {}
lock = threading.Lock()


def worker(name, n):
    total = 0
    for i in range(n):
        total += i
    with lock:
        results[name] = total


threads = []
for k in range(3):
    t = threading.Thread(target=worker, args=("t%d" % k, 1000 * (k + 1)))
    threads.append(t)
    t.start()
for t in threads:
    t.join()
for name in sorted(results):
    print(name, results[name])
