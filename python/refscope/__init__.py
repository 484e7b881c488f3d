"""refscope: see what your Python code does to memory and time."""

from refscope._refscope import (
    BenchResult,
    RunResult,
    SizeResult,
    Trace,
    __version__,
    bench,
    main,
    paths,
    size,
    trace,
    whois,
)

__all__ = [
    "BenchResult",
    "RunResult",
    "SizeResult",
    "Trace",
    "__version__",
    "bench",
    "main",
    "paths",
    "size",
    "trace",
    "whois",
]
