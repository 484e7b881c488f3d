from typing import Any, Callable, final

__all__ = [
    "BenchResult",
    "SizeResult",
    "__version__",
    "_bench_worker",
    "_child",
    "_worker",
    "bench",
    "main",
    "paths",
    "size",
    "whois",
]

__version__: str

def main(argv: list[str]) -> int:
    """Runs `refscope ARGS...` in-process and returns its exit code."""

@final
class BenchResult:
    @property
    def median(self) -> float: ...
    @property
    def ci(self) -> tuple[float, float]: ...
    @property
    def verdicts(self) -> list[str]: ...
    @property
    def warnings(self) -> list[str]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_json(self) -> str: ...
    def plot_svg(self) -> str: ...
    def _repr_html_(self) -> str: ...

def bench(
    *stmts: str | Callable[[], object],
    setup: str | Callable[[], object] | None = None,
    number: int | None = None,
    repeat: int | None = None,
    time_budget: float = 3.0,
    precision: float = 0.5,
    gc: bool = False,
    process_time: bool = False,
) -> BenchResult:
    """Times statements like `refscope bench`; callables are timed in this process."""

@final
class SizeResult:
    @property
    def shallow(self) -> int: ...
    @property
    def deep(self) -> int: ...
    @property
    def retained(self) -> int | None: ...
    @property
    def objects(self) -> int: ...
    @property
    def retained_objects(self) -> int | None: ...
    @property
    def unsized_objects(self) -> int: ...
    @property
    def by_type(self) -> dict[str, tuple[int, int, int]]: ...
    @property
    def largest(self) -> list[tuple[str, str, int]]: ...
    def to_dict(self) -> dict[str, Any]: ...

def size(obj: object, *, include_shared: bool = False, top: int = 10, retained: bool = True) -> SizeResult:
    """Shallow, deep and retained size of obj (docs/sizes.md); retained=False: deep size alone, faster."""

def whois(id: int) -> Any:
    """The live object with this id() and what refers to it, or None."""

def paths(obj: object, limit: int = 3) -> list[str]:
    """Shortest reference paths from the program's roots to obj."""

def _worker() -> None: ...
def _child() -> None: ...
def _bench_worker() -> None: ...
