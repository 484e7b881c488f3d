# Lesson section 5 "Measuring memory: getsizeof (shallow) vs deep size", deep size (recursive).
import sys


def deep_getsizeof(obj, seen=None):
    if seen is None:
        seen = set()
    obj_id = id(obj)
    if obj_id in seen:
        return 0
    seen.add(obj_id)

    size = sys.getsizeof(obj)

    if isinstance(obj, dict):
        size += sum(deep_getsizeof(k, seen) + deep_getsizeof(v, seen)
                    for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set)):
        size += sum(deep_getsizeof(i, seen) for i in obj)

    return size

data = [1, 2, [3, 4], {"a": 10, "b": [11, 12]}]
print("Deep size:", deep_getsizeof(data), "bytes")
