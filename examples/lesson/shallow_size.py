# Lesson section 5 "Measuring memory: getsizeof (shallow) vs deep size", shallow size.
import sys

lst = [1, 2, 3]
print(sys.getsizeof(lst), "bytes")
