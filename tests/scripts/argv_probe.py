# Prints what a program sees of how it was started (nothing that varies between runs).
import sys

print("argv", sys.argv)
print("file", __file__)
print("path0", sys.path[0])
print("name", __name__)
print("package", __package__)
print("spec", None if __spec__ is None else __spec__.name)
print("cached", globals().get("__cached__", "missing"))
print("loader", type(__loader__).__name__)
print("globals", sorted(globals()))
