def one(): return 1
def gone(): yield 1; yield 2
class C: x = 1; y = 2
def deco(f): return f
@deco
def h(a): return a
class D:
    def m(self): return self
    @property
    def p(self): return 1
def main():
    for _ in range(3): one()
    list(gone())
    [h(i) for i in range(4)]
    d = D(); d.m(); d.p; d.p
    s = sorted(range(10), key=lambda v: -v)
    g = (i for i in range(3) if i)
    list(g)
    nested = [[j for j in range(i)] for i in range(3)]
    try:
        raise KeyError
    except KeyError: pass
    with open(__file__) as fh: fh.read(1)
main()
