# Runs another Python script through subprocess, as `python kids_other.py`.
import os
import subprocess
import sys

print("env", sorted(k for k in os.environ if "REFSCOPE" in k), flush=True)

done = subprocess.run([sys.executable, "kids_other.py", "7"], check=True)
print("parent", done.returncode)
