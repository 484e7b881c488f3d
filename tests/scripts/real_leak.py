import random

kept = []


def handle(i):
    kept.append("request %d " % i * 20)  # the leak: nothing ever leaves the list


for i in range(20_000):
    handle(i)
print(len(kept), random.random() < 2)
