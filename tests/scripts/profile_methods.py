# Classes, methods, properties, dunder methods called implicitly, lambdas called by sorted().
class Shape:
    count = 0

    def __init__(self, name):
        self.name = name
        Shape.count += 1

    def area(self):
        return 0.0

    def describe(self):
        return "%s %.1f" % (self.name, self.area())

    def __lt__(self, other):
        return self.area() < other.area()

    def __repr__(self):
        return "Shape(%r)" % self.name


class Rect(Shape):
    def __init__(self, w, h):
        super().__init__("rect")
        self.w = w
        self.h = h

    def area(self):
        return self.w * self.h

    @property
    def perimeter(self):
        return 2 * (self.w + self.h)


class Square(Rect):
    def __init__(self, side):
        super().__init__(side, side)
        self.name = "square"

    @staticmethod
    def unit():
        return Square(1)

    @classmethod
    def of(cls, side):
        return cls(side)


shapes = [Rect(2, 3), Square(4), Square.unit(), Square.of(2), Rect(1, 5)]
by_area = sorted(shapes, key=lambda s: s.area())
by_perimeter = sorted(shapes, key=lambda s: -s.perimeter)
print([s.describe() for s in by_area])
print([s.perimeter for s in by_perimeter])
print(sorted(shapes)[0], min(shapes), Shape.count)
print(list(map(lambda s: s.name.upper(), shapes)))
