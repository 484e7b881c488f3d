__version__: str

def main(argv: list[str]) -> int:
    """Runs `refscope ARGS...` in-process and returns its exit code."""

def _worker() -> None: ...
