# Exceptions raised and caught: in a callee, in a loop, chained, and with finally.
import sys


class ValidationError(ValueError):
    pass


def parse(text):
    try:
        return int(text)
    except ValueError:
        return None


def check(n):
    if n < 0:
        raise ValidationError("negative: %d" % n)
    return n


def process(values):
    good = 0
    bad = 0
    for v in values:
        try:
            check(v)
            good += 1
        except ValidationError as e:
            bad += 1
            print("rejected", e, file=sys.stderr)
    return good, bad


def chained():
    try:
        try:
            raise KeyError("inner")
        except KeyError as e:
            raise RuntimeError("outer") from e
    except RuntimeError as e:
        return type(e.__cause__).__name__


def with_finally(log):
    try:
        log.append("body")
        return len(log)
    finally:
        log.append("finally")


print("parsed", parse("12"), parse("x"), parse("7"))
print("processed", process([1, -2, 3, -4, 5]))
print("cause", chained())
log = []
print("finally", with_finally(log), log)
