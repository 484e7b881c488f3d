"""refscope: see what your Python code does to memory and time."""

from refscope._refscope import __version__, main

__all__ = ["__version__", "main"]
