from typing import Any, Callable, Union

__version__: str

def main(argv: list[str]) -> int:
    """Runs `refscope ARGS...` in-process and returns its exit code."""

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
    *stmts: Union[str, Callable[[], object]],
    setup: Union[str, Callable[[], object], None] = None,
    number: Union[int, None] = None,
    repeat: Union[int, None] = None,
    time_budget: float = 3.0,
    precision: float = 1.0,
    gc: bool = False,
    process_time: bool = False,
) -> BenchResult:
    """Times statements like `refscope bench`; callables are timed in this process."""

def _worker() -> None: ...
def _bench_worker() -> None: ...
