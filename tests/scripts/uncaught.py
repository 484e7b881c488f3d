# An exception nobody catches: traceback on stderr, exit code 1.


def lookup(key):
    table = {"a": 1}
    return table[key]


def main():
    print("looking up")
    return lookup("missing")


main()
