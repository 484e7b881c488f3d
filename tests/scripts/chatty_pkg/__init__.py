# A package whose import prints: `python -m chatty_pkg.tool` prints this line exactly once.
print("chatty_pkg imported")
