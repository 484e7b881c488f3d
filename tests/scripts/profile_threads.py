# fib(12) in a thread (465 calls), work() in the main thread.
import threading


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def in_thread(out):
    out.append(fib(12))


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


out = []
t = threading.Thread(target=in_thread, args=(out,), name="fibber")
t.start()
t.join()
print("fib", out[0], "work", work(100))
