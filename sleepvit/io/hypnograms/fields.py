"""What the scoring formats share: stage events, stage cells and numbers as text."""

from __future__ import annotations

from pathlib import Path

from sleepvit.errors import HypnogramError
from sleepvit.hypnogram import GRID_TOLERANCE_S, is_stage_label, parse_stage
from sleepvit.slots import EPOCH_SECONDS
from sleepvit.study import Annotation


def stage_segments(events: list[Annotation]) -> list[tuple[float, float, int]]:
    """``(onset, duration, code)`` of the events that score a stage.

    A stage annotation spans whole epochs (or marks one with duration 0); shorter events
    that happen to share a spelling (a 3-s ``Movement``, an ``A`` artifact mark) are not
    scorings and are skipped.
    """
    shortest_s = EPOCH_SECONDS - GRID_TOLERANCE_S
    return [
        (e.onset_s, e.duration_s, parse_stage(e.description))
        for e in events
        if is_stage_label(e.description) and not 0 < e.duration_s < shortest_s
    ]


def stage_code(text: str, line: int, path: Path) -> int:
    """The stage code of one cell of a scoring; a one-line error names the line otherwise."""
    try:
        return parse_stage(text)
    except ValueError:
        raise HypnogramError(
            f"line {line}: {text!r} is not a sleep stage (expected W, N1, N2, N3, R/REM or "
            "?/UNS, or R&K numbers 0-5); correct the stage column",
            path,
        ) from None


def seconds_text(value: float) -> str:
    """Seconds as written in CSV and XML: at most 3 decimals, no trailing zeros (``30``)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")
