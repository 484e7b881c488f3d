# Methods (plain, property, static, class), a closure and lambdas.


class Counter:
    def __init__(self, start):
        self.value = start

    def bump(self, by=1):
        self.value += by
        return self

    @property
    def doubled(self):
        return self.value * 2

    @staticmethod
    def describe(value):
        return "counter at %d" % value

    @classmethod
    def from_text(cls, text):
        return cls(int(text))


def make_adder(k):
    def add(x):
        return x + k

    return add


def apply_all(items):
    square = lambda x: x * x  # noqa: E731
    out = []
    for item in items:
        out.append(square(item))
    return out


def main():
    c = Counter.from_text("3")
    for _ in range(4):
        c.bump()
    c.bump(by=10)
    print(Counter.describe(c.value), c.doubled)
    add5 = make_adder(5)
    print("added", add5(1), add5(2), add5(3))
    print("squares", apply_all([1, 2, 3]))
    print("sorted", sorted(["bb", "a", "ccc"], key=lambda s: -len(s)))


main()
