import sys  # Deterministic, and the same line events on Python 3.9 to 3.13: see test_run_json.py.


def classify(n):
    if n % 15 == 0:
        return "fizzbuzz"
    if n % 3 == 0:
        return "fizz"
    if n % 5 == 0:
        return "buzz"
    return "number"


def tally(limit):
    counts = {}
    for n in range(1, limit + 1):
        word = classify(n)
        counts[word] = counts.get(word, 0) + 1
    return counts


def show(counts):
    for word in sorted(counts):
        print(word, counts[word])


show(tally(int(sys.argv[1])))
print("done")
