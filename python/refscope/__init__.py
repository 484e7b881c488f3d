"""refscope: see what your Python code does to memory and time."""

from refscope._refscope import BenchResult, SizeResult, __version__, bench, main, paths, size, whois

__all__ = ["BenchResult", "SizeResult", "__version__", "bench", "main", "paths", "size", "whois"]
