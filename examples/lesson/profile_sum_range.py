# Lesson section 6.4, the cProfile example, for `refscope profile`:
#   refscope profile examples/lesson/profile_sum_range.py
# (or refscope profile -c 'sum(range(1_000_000))'): `sum` and, on 3.12+, `range` in a call tree.
sum(range(1_000_000))
