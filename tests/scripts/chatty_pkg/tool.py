# Run as `-m chatty_pkg.tool`: prints how it was started.
import sys

print("tool", __name__, sys.argv[1:])
