# concurrent.futures' process pool: its workers end through os._exit once shut down.
from concurrent.futures import ProcessPoolExecutor


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


if __name__ == "__main__":
    with ProcessPoolExecutor(2) as ex:
        print("executor", sum(ex.map(work, [500] * 6)))
