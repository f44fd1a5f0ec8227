"""Benchmarks behind ``sleepvit bench TARGET``.

Numbers go in the README with the machine they ran on; never in unit tests, which would
flake on shared machines. Report medians, and ratios measured side by side in one run.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from sleepvit.io.atomic import atomic_open

_ALIGN_RULES = {"l": "---", "r": "---:"}


def machine_description() -> str:
    """CPU model, cores and memory, e.g. for the README's benchmark tables."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GB RAM, Python {platform.python_version()}"


def median_seconds(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def markdown_table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table from ``(title, align)`` columns, align ``"l"`` or ``"r"``, and rows of
    already formatted cells, so each benchmark keeps its own number formats.

    Examples
    --------
    >>> print(markdown_table([("format", "l"), ("read ms", "r")], [["CSV", "1.2"], ["XML", ""]]))
    | format | read ms |
    |---|---:|
    | CSV | 1.2 |
    | XML | |
    """
    lines = [
        _table_line(title for title, _ in columns),
        "|" + "|".join(_ALIGN_RULES[align] for _, align in columns) + "|",
    ]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row {row!r} has {len(row)} cells for {len(columns)} columns")
        lines.append(_table_line(row))
    return "\n".join(lines)


def _table_line(cells: Iterable[str]) -> str:
    """``| a | b | |``: an empty cell is a single space, as the README's tables write it."""
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def write_results(path: str | Path | None, data: dict) -> None:
    """Write a benchmark's results as indented JSON to ``path`` (``--json``), atomically;
    nothing when ``path`` is None (the option was not given).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "bench.json"
    >>> write_results(out, {"machine": "test", "rows": [{"ms": 1.5}]})
    >>> json.loads(out.read_text())["rows"][0]["ms"]
    1.5
    >>> write_results(None, {"ignored": True})
    """
    if path is None:
        return
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2)


@contextlib.contextmanager
def work_folder(workdir: str | Path | None, prefix: str = "sleepvit-bench-") -> Iterator[Path]:
    """The ``--workdir`` folder (created, kept so its generated files are reused), or a
    temporary folder removed afterwards when no ``--workdir`` was given.

    Examples
    --------
    >>> with work_folder(None) as folder:
    ...     folder.is_dir()
    True
    >>> folder.exists()
    False
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        folder = Path(workdir or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
