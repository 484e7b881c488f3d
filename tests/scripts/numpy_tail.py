# numpy's import makes and frees many code objects; the lines after it must all be measured.
import numpy as np

import numpy_helper

a = np.arange(10_000, dtype=np.float64)
b = numpy_helper.scale(a, 3)
total = float(b.sum())
print("total", total)
