# Generators: chained, consumed fully, consumed partly and closed, with a skipped iteration.


def countdown(n):
    while n > 0:
        yield n
        n -= 1


def squares(items):
    for x in items:
        yield x * x


def first_words(text):
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        yield words[0]


def main():
    total = 0
    for v in squares(countdown(10)):
        total += v
    print("sum of squares", total)
    gen = countdown(5)
    print("first two", next(gen), next(gen))
    gen.close()
    print("words", list(first_words("alpha beta\n\ngamma delta\nepsilon")))


main()
