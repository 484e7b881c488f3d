"""Console entry point: the command line is parsed and run in Rust."""

import sys

from refscope._refscope import main as _main


def main() -> None:
    sys.exit(_main(sys.argv))
