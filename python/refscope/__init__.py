"""refscope: see what your Python code does to memory and time."""

from refscope._refscope import (
    BenchResult,
    ExplainResult,
    ProfileResult,
    RunResult,
    SizeResult,
    Trace,
    __version__,
    bench,
    explain,
    main,
    paths,
    profile,
    size,
    trace,
    whois,
)

__all__ = [
    "BenchResult",
    "ExplainResult",
    "ProfileResult",
    "RunResult",
    "SizeResult",
    "Trace",
    "__version__",
    "bench",
    "explain",
    "load_ipython_extension",
    "main",
    "paths",
    "profile",
    "size",
    "trace",
    "whois",
]


def load_ipython_extension(shell) -> None:
    """`%load_ext refscope`: registers the `%refscope` and `%%refscope` magics."""
    from refscope._ipython import load

    load(shell)
