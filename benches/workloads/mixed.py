"""Realistic mixed program: generate a sales log, parse it into objects, aggregate,
sort, filter with a generator and round-trip the summary through JSON."""
import json
import random
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
PRODUCTS = ["apple", "banana", "cherry", "durian", "elderberry", "fig", "grape"]
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Accra", "Quito"]


def generate_log(n, rng):
    lines = []
    for i in range(n):
        day = 1 + i % 28
        product = rng.choice(PRODUCTS)
        city = rng.choice(CITIES)
        qty = rng.randint(1, 9)
        price = rng.randint(50, 500) / 100
        lines.append(f"2024-03-{day:02d};{city};{product};{qty};{price:.2f}")
    return "\n".join(lines)


class Sale:
    __slots__ = ("city", "day", "price", "product", "qty")

    def __init__(self, day, city, product, qty, price):
        self.day = day
        self.city = city
        self.product = product
        self.qty = qty
        self.price = price

    @classmethod
    def parse(cls, line):
        date, city, product, qty, price = line.split(";")
        return cls(int(date[-2:]), city, product, int(qty), float(price))

    def total(self):
        return self.qty * self.price


class Report:
    def __init__(self):
        self.by_city = {}
        self.by_product = {}
        self.big_sales = []

    def add(self, sale):
        amount = sale.total()
        self.by_city[sale.city] = self.by_city.get(sale.city, 0.0) + amount
        counts = self.by_product.setdefault(sale.product, [0, 0.0])
        counts[0] += sale.qty
        counts[1] += amount
        if amount > 30:
            self.big_sales.append(sale)

    def top_products(self, k):
        ranked = sorted(self.by_product.items(), key=lambda kv: kv[1][1], reverse=True)
        return [name for name, _ in ranked[:k]]

    def to_dict(self):
        return {
            "by_city": {city: round(v, 2) for city, v in self.by_city.items()},
            "by_product": self.by_product,
            "big_sales": [[s.day, s.city, s.product, s.qty, s.price] for s in self.big_sales],
        }


def weekend_sales(sales):
    for sale in sales:
        if sale.day % 7 in (0, 6):
            yield sale


def main():
    rng = random.Random(42)
    text = generate_log(int(80_000 * SCALE), rng)
    sales = [Sale.parse(line) for line in text.splitlines()]
    report = Report()
    for sale in sales:
        report.add(sale)
    sales.sort(key=lambda s: (s.city, -s.total()))
    weekend_total = sum(s.total() for s in weekend_sales(sales))
    restored = json.loads(json.dumps(report.to_dict()))
    print(len(sales), len(restored["big_sales"]), report.top_products(3), round(weekend_total, 2))


main()
