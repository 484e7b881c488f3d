"""The notebook magics: `%load_ext refscope`, then `%%refscope run|profile|explain|bench` and
`%refscope size|bench`, with the command line's flags (see docs/notebooks.md)."""

from __future__ import annotations

import os
import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from refscope import _refscope

USAGE = "usage: %%refscope run|profile|explain|bench [FLAGS] (a cell), %refscope size EXPR or %refscope bench STMT"


@magics_class
class RefscopeMagics(Magics):
    @line_cell_magic
    def refscope(self, line: str, cell: str | None = None):
        try:
            argv = split_expression(line) if cell is None else shlex.split(line)
        except ValueError as e:
            raise UsageError(f"refscope: {e}") from None
        if not argv:
            raise UsageError(USAGE)
        shell = self.shell
        code, name, roots = None, "", []
        if cell is not None and argv[0] in ("run", "profile"):
            # The cell as the kernel would run it (its own %magics and !commands included), under
            # the kernel's name for it, so tracebacks and the report show its lines.
            cell = shell.transform_cell(cell)
            name = shell.compile.cache(cell, shell.execution_count, raw_code=cell)
            code = compile(cell, name, "exec", dont_inherit=True)
            if os.path.isabs(name):
                roots.append(os.path.dirname(name))  # earlier cells' functions live beside it
            roots.append(os.getcwd())
        try:
            result, error = _refscope._magic(argv, cell, shell.user_ns, name, code, roots)
        except ValueError as e:
            raise UsageError(str(e).rstrip()) from None
        display(result)
        if error is not None:
            raise error


def _word(s: str, i: int) -> tuple[str, int]:
    """The shell word starting at s[i] (quotes kept together), unquoted, and where it ends."""
    j, quote = i, None
    while j < len(s):
        c = s[j]
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c.isspace():
            break
        j += 1
    return "".join(shlex.split(s[i:j])) or s[i:j], j


def split_expression(line: str) -> list[str]:
    """`size [OPTIONS] EXPR` / `bench [OPTIONS] STMT`: options first, then the rest of the line
    is one expression, unquoted (`%refscope size [x for x in xs]`)."""
    line = line.strip()
    command, i = _word(line, 0)
    if command not in ("size", "bench"):
        return shlex.split(line)
    takes = set(_refscope._magic_value_options(command))
    argv = [command]
    while True:
        while i < len(line) and line[i].isspace():
            i += 1
        if i >= len(line):
            return argv
        if line[i] != "-":
            return [*argv, "--", line[i:].strip()]
        word, i = _word(line, i)
        argv.append(word)
        if word in takes:
            while i < len(line) and line[i].isspace():
                i += 1
            value, i = _word(line, i)
            argv.append(value)


def load(shell) -> None:
    shell.register_magics(RefscopeMagics)
