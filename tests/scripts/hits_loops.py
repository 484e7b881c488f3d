def gen(n):
    for i in range(n):
        yield i
def gen2(n):
    i = 0
    while i < n:
        x = yield i; i += 1
def main():
    k = 100
    while k: k -= 1
    xs = list(range(50))
    a = [x * 2 for x in xs]
    b = all(x >= 0 for x in xs)
    c = sum(gen(20))
    g = gen2(5); next(g)
    for _ in range(4): g.send(1)
    d = {x: x for x in xs if x % 2}
    try:
        for i in range(3):
            if i == 2: raise ValueError
    except ValueError:
        pass
    f = lambda y: y + 1
    e = [f(x) for x in xs]
    import asyncio
    async def co():
        for i in range(3): await asyncio.sleep(0)
        return 1
    asyncio.run(co())
main()
