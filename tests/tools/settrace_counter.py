"""The oracle for hit counts: runs a program as `python` would, with a `sys.settrace` function
that counts the line events of every file under ROOT, and writes {"path:line": hits} as JSON.

    python settrace_counter.py OUT.json ROOT (SCRIPT | -m MODULE) [ARGS...]

Threads are counted too (`threading.settrace`). A program that saves and restores the trace
function (doctest, pdb, unittest's doctest glue) restores this one, as under plain python.
"""

from __future__ import annotations

import collections
import json
import os
import runpy
import sys
import threading

out, root = sys.argv[1], os.path.realpath(sys.argv[2])
counts: collections.Counter = collections.Counter()
mine: dict = {}
# `counts[k] += 1` is a read and a write: two threads between them would lose a count.
counting = threading.Lock()


def ours(filename: str) -> str:
    """The real path of `filename` if it is under ROOT, else ""."""
    v = mine.get(filename)
    if v is None:
        real = "" if filename.startswith("<") else os.path.realpath(filename)
        v = mine[filename] = real if real.startswith(root + os.sep) else ""
    return v


def trace(frame, event, arg):
    path = ours(frame.f_code.co_filename)
    if not path:
        return None
    if event == "line":
        with counting:
            counts[path, frame.f_lineno] += 1
    return trace


def save() -> None:
    sys.settrace(None)
    with open(out, "w") as f:
        json.dump({f"{path}:{line}": n for (path, line), n in counts.items()}, f)


args = sys.argv[3:]
threading.settrace(trace)
sys.settrace(trace)
try:
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        sys.path.insert(0, os.path.dirname(os.path.realpath(args[0])))
        runpy.run_path(args[0], run_name="__main__")
except SystemExit as e:
    save()
    raise SystemExit(e.code) from None
save()
