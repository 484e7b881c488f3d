"""The crate's layers only point down: every top-level module of src/ uses only modules on lower
rows of the layer table in the README (between the `layers` markers), and every module has a row.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"


def layers() -> list[list[str]]:
    """Rows of the README's layer table, top row first."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- layers -->", 1)[1].split("<!-- /layers -->", 1)[0]
    rows = []
    for line in block.splitlines():
        m = re.match(r"^\s*([a-z_]+(?:,\s*[a-z_]+)*):", line)
        if m:
            rows.append([n.strip() for n in m.group(1).split(",")])
    return rows


def strip(code: str) -> str:
    code = re.sub(r"//[^\n]*", "", code)
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', code)


def uses() -> dict[str, set[str]]:
    """Which top-level modules each one names through `crate::` paths or `use crate::{…}`."""
    files: dict[str, list[Path]] = {}
    for p in SRC.rglob("*.rs"):
        first = p.relative_to(SRC).parts[0]
        mod = first[:-3] if first.endswith(".rs") else first
        if mod not in ("lib", "main"):
            files.setdefault(mod, []).append(p)
    found = {m: set() for m in files}
    for m, paths in files.items():
        for p in paths:
            code = strip(p.read_text(encoding="utf-8"))
            names = re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", code)
            for block in re.findall(r"\buse\s+crate::\{([^;]*)\};", code, flags=re.S):
                names += re.findall(r"(?:^|[,{\s])([a-z_][a-z0-9_]*)\s*(?:::|,|\}|$)", block)
            found[m] |= {n for n in names if n in files and n != m}
    return found


def test_every_module_has_a_layer():
    placed = [m for row in layers() for m in row]
    assert len(placed) == len(set(placed)), "a module is on two rows"
    missing = sorted(set(uses()) - set(placed))
    assert not missing, f"modules without a row in the README's layer table: {missing}"
    gone = sorted(set(placed) - set(uses()))
    assert not gone, f"the layer table names modules that no longer exist: {gone}"


def test_modules_use_only_lower_layers():
    rows = layers()
    rank = {m: len(rows) - i for i, row in enumerate(rows) for m in row}
    wrong = [
        f"{m} (row {len(rows) - rank[m] + 1}) uses {u} (row {len(rows) - rank[u] + 1})"
        for m, us in sorted(uses().items())
        for u in sorted(us)
        if m in rank and u in rank and rank[u] >= rank[m]
    ]
    assert not wrong, "imports that do not point down:\n" + "\n".join(wrong)


def test_comments_and_strings_are_not_imports():
    assert re.findall(r"\bcrate::([a-z_]+)", strip('let x = crate::tracer::TRACER; // crate::cli\n"crate::py"')) == [
        "tracer"
    ]
