"""refscope: see what your Python code does to memory and time."""

from refscope._refscope import BenchResult, __version__, bench, main

__all__ = ["BenchResult", "__version__", "bench", "main"]
