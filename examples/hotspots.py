"""A first demo for refscope: a small program whose functions cost very different amounts.

    refscope run examples/hotspots.py

Two jobs are done two ways each (building a string, testing membership), next to a sort, a
recursive function and a generator pipeline; the report shows which lines the time goes to.
"""
import random


class SlowReport:
    # Each += on self.text builds a new string and copies all the text so far into it.
    def __init__(self):
        self.text = ""

    def add(self, word):
        self.text += word + " "


def build_report_slow(words):
    report = SlowReport()
    for word in words:
        report.add(word)
    return report.text


def build_report_fast(words):
    # join computes the total length first and copies each word once.
    return " ".join(words) + " "


def count_known_list(words, vocabulary):
    # `in` on a list looks at every element, one by one.
    known = list(vocabulary)
    return sum(1 for word in words if word in known)


def count_known_set(words, vocabulary):
    # `in` on a set is a hash lookup: about the same speed however big the set is.
    known = set(vocabulary)
    return sum(1 for word in words if word in known)


def top_words(words, k):
    counts = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return sorted(counts.items(), key=lambda item: item[1], reverse=True)[:k]


def partitions(n, largest):
    # Small recursive function: ways to write n as a sum of parts no bigger than `largest`.
    if n == 0:
        return 1
    if n < 0 or largest == 0:
        return 0
    return partitions(n - largest, largest) + partitions(n, largest - 1)


def long_words(words):
    for word in words:
        if len(word) >= 6:
            yield word


def capitalized(words):
    for word in words:
        yield word.capitalize()


def random_word(rng):
    return "".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 8)))


def main():
    rng = random.Random(1)
    vocabulary = [random_word(rng) for _ in range(1_000)]
    words = [rng.choice(vocabulary) for _ in range(100_000)]

    first_words = words[:30_000]
    slow = build_report_slow(first_words)
    fast = build_report_fast(first_words)
    print("report length:", len(fast), "characters, same both ways:", slow == fast)

    sample = words[:50_000]
    print("known words:", count_known_list(sample, vocabulary), "=", count_known_set(sample, vocabulary))
    print("top 3 words:", top_words(words, 3))
    print("partitions of 50:", partitions(50, 50))
    long_ones = list(capitalized(long_words(words)))
    print("long words:", len(long_ones), "starting", long_ones[:3])


main()
