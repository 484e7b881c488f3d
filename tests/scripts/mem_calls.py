def f():
    return None


calls = [None] * 20000
for _ in calls:
    f()
