# A child that outlives its parent's timeout.
import os
import time

pid = os.fork()
print("child" if pid == 0 else "parent", flush=True)
time.sleep(30)
