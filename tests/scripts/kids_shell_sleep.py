# Starts a program that is not Python, then outlives any test's --timeout.
import subprocess
import time

p = subprocess.Popen(["sleep", "30"])
print(p.pid, flush=True)
time.sleep(30)
