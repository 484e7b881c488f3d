# Builtins called from your code: each call counts once, what they call back (map's len, max's
# key) is theirs. No generator expression: cProfile counts a generator's every resume.
def words_of(text):
    out = []
    for w in text.split():
        out.append(w.strip(".,").lower())
    return out


def stats(words):
    lengths = list(map(len, words))
    longest = max(words, key=len)
    total = sum(lengths)
    return len(words), total, longest, ", ".join(sorted(set(words))[:5])


def histogram(words):
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]


text = "The quick brown fox jumps over the lazy dog. The dog sleeps, the fox runs." * 5
words = words_of(text)
print(stats(words))
print(histogram(words))
xs = []
for i in range(50):
    xs.append(i * i)
    list.append(xs, -i)
print(len(xs), sum(xs), max(xs), min(xs), abs(-3), isinstance(xs, list))
print("-".join(["a", "b"]), "a,b".split(","), str(12).zfill(4))
