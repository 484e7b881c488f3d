# A multiprocessing pool (start method from argv): work() runs only in the workers.
import multiprocessing as mp
import sys


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        print("pool", sum(pool.map(work, [1000] * 4)))
