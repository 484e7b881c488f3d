# Exceptions raised and caught: in the function that raises, through several frames, from a
# C method (list.pop on an empty list), with finally blocks on the way.
class Oops(Exception):
    pass


def fail(n):
    raise Oops(n)


def middle(n):
    try:
        return fail(n)
    finally:
        cleanup()


def cleanup():
    return None


def top(n):
    try:
        middle(n)
    except Oops as e:
        return e.args[0]
    return -1


def safe_pop(xs):
    try:
        return xs.pop()
    except IndexError:
        return None


def parse(text):
    try:
        return int(text)
    except ValueError:
        return 0


caught = 0
for i in range(20):
    caught += top(i)
print("caught", caught)
stack = [1, 2]
print("pops", [safe_pop(stack) for _ in range(4)])
print("parsed", parse("7") + parse("y"))
try:
    {}["missing"]
except KeyError:
    print("key error")
