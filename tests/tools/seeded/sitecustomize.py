"""On PYTHONPATH, makes `random` repeatable: a test suite that draws random inputs then runs the same
lines every time, so two runs of it can be compared line by line."""

import random

random.seed(0)
