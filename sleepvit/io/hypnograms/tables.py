"""CSV and TSV scorings: per-epoch lists, onset/duration/stage event lists, vendor exports.

Read: a ``stage`` column (many spellings, below a patient preamble of up to
:data:`HEADER_SEARCH_LINES` lines), optional onsets (seconds or clock times), durations,
``p_W … p_REM`` probabilities and a ``reason``; or a header-less column or line of stages.
Written: ``epoch,onset_s,stage[,confidence,p_W,p_N1,p_N2,p_N3,p_REM][,reason]`` with epochs
counted from 1; ``reason`` says why an epoch is unscored or what it was scored without.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from sleepvit.errors import HypnogramError
from sleepvit.hypnogram import GRID_TOLERANCE_S, STAGES, UNS, Hypnogram
from sleepvit.io.hypnograms.fields import seconds_text, stage_code, stage_segments
from sleepvit.slots import EPOCH_SECONDS
from sleepvit.study import Annotation

PROBABILITY_COLUMNS = tuple(f"p_{stage}" for stage in STAGES)

# Header spellings (lower case, letters and digits only) of the columns a table may have.
_COLUMNS = {
    "stage": {"stage", "stages", "sleepstage", "hypnogram", "hypno", "label", "score", "scoring",
              "annotation", "description", "event", "eventconcept", "sleepstages"},
    "onset": {"onset", "onsets", "onsetsec", "onsetseconds", "start", "starts", "startsec",
              "starttime", "onsettime", "begin", "timesec", "times", "time", "timehhmmss",
              "clocktime"},
    "duration": {"duration", "durations", "durationsec", "durationseconds", "dur", "length"},
    "reason": {"reason"},
}  # fmt: skip
HEADER_SEARCH_LINES = 50
"""How far down a table the column header may sit (below a patient preamble)."""
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})[:.](\d{2}(?:[.,]\d+)?)")


def read_table(path: Path) -> Hypnogram:
    """A CSV or TSV scoring (delimiter and columns recognised from the content)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise HypnogramError("holds no epochs (only blank or comment lines)", path)
    # Exports such as RemLogic/CAP put a patient preamble above the column header.
    for position, (_, line) in enumerate(lines[:HEADER_SEARCH_LINES]):
        delimiter = _delimiter(line, path)
        header = _header_columns(_split(line, delimiter))
        if header is not None:
            rows = [(number, _split(line, delimiter)) for number, line in lines[position + 1 :]]
            return _read_columns(rows, header, path)
    delimiter = _delimiter(lines[0][1], path)
    return _read_headerless([(number, _split(line, delimiter)) for number, line in lines], path)


def _split(line: str, delimiter: str) -> list[str]:
    return [cell.strip() for cell in next(csv.reader([line], delimiter=delimiter))]


def _delimiter(line: str, path: Path) -> str:
    if "\t" in line or path.suffix.lower() == ".tsv":
        return "\t"
    if ";" in line and "," not in line:
        return ";"
    return ","


def _header_columns(cells: list[str]) -> dict[str, int] | None:
    keys = ["".join(ch for ch in cell.lower() if ch.isalnum()) for cell in cells]
    found = {
        role: keys.index(key)
        for role, spellings in _COLUMNS.items()
        for key in keys
        if key in spellings
    }
    if "stage" not in found:
        return None
    for name in PROBABILITY_COLUMNS:
        key = name.replace("_", "").lower()
        if key in keys:
            found[name] = keys.index(key)
    return found


def _read_headerless(rows: list[tuple[int, list[str]]], path: Path) -> Hypnogram:
    if len(rows) == 1 and len(rows[0][1]) > 1:
        cells = [(rows[0][0], cell) for cell in rows[0][1] if cell]  # one line: a,b,c,…
    elif all(len(cells) == 1 for _, cells in rows):
        cells = [(number, row[0]) for number, row in rows]
    else:
        first_number, first_cells = rows[0]
        raise HypnogramError(
            f"line {first_number} ({', '.join(first_cells[:4])}) is neither a header with a "
            "'stage' column nor a single stage; add a header line such as 'onset,duration,stage'",
            path,
        )
    hyp = Hypnogram([stage_code(cell, number, path) for number, cell in cells])
    hyp.metadata.update(format="csv", source=str(path))
    return hyp


def _read_columns(
    rows: list[tuple[int, list[str]]], columns: dict[str, int], path: Path
) -> Hypnogram:
    if not rows:
        raise HypnogramError("has a header but no epochs; the scoring is empty", path)
    stage_at = columns["stage"]
    onsets, start_clock = _onset_column(rows, columns.get("onset"), path)
    if "duration" in columns:
        durations = [_number_cell(c, columns["duration"], n, path) for n, c in rows]
        if onsets is None:
            # Run lengths without onsets: each run starts where the previous one ended.
            onsets = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
            for number, cells in rows:
                stage_code(_cell(cells, stage_at), number, path)
        # An event list: stage runs among other events (arousals, apneas) that are skipped.
        events = [
            Annotation(onset, duration, _cell(cells, stage_at))
            for onset, duration, (_, cells) in zip(onsets, durations, rows, strict=True)
        ]
        segments = stage_segments(events)
        if not segments:
            raise HypnogramError("lists events but no sleep stages; it is not a hypnogram", path)
        hyp = Hypnogram.from_segments(segments)
    else:
        codes = [stage_code(_cell(cells, stage_at), number, path) for number, cells in rows]
        probabilities = _probabilities(rows, columns, path)
        if onsets is None:
            hyp = Hypnogram(codes, probabilities=probabilities)
        else:
            hyp = _place_epochs(onsets, np.array(codes), probabilities, path)
        if "reason" in columns:
            reasons = [_cell(cells, columns["reason"]) for _, cells in rows]
            hyp.reasons = _placed_reasons(reasons, onsets, len(hyp))
    if start_clock is not None:
        hyp.metadata["start_clock"] = start_clock
    hyp.metadata.update(format="csv", source=str(path))
    return hyp


def _onset_column(
    rows: list[tuple[int, list[str]]], index: int | None, path: Path
) -> tuple[np.ndarray | None, str | None]:
    """Onsets in seconds from the first row, and that row's clock time if given as one.

    Clock times (``22:13:00`` or ``22.13.00``) carry no date; the clock time of the first
    row lets :func:`~sleepvit.hypnogram.align_to_recording` place them on the recording.
    """
    if index is None:
        return None, None
    if _CLOCK.fullmatch(_cell(rows[0][1], index)) is None:
        return np.array([_number_cell(c, index, n, path) for n, c in rows]), None
    seconds = np.array([_clock_cell(c, index, n, path) for n, c in rows])
    # A clock that jumps back by more than 12 h has passed midnight.
    seconds += 86400.0 * np.cumsum(np.diff(seconds, prepend=seconds[0]) < -43200)
    first = int(seconds[0]) % 86400
    clock = f"{first // 3600:02d}:{first // 60 % 60:02d}:{first % 60:02d}"
    return seconds - int(seconds[0]), clock


def _clock_cell(cells: list[str], index: int, line: int, path: Path) -> float:
    match = _CLOCK.fullmatch(_cell(cells, index))
    if match is None:
        raise HypnogramError(
            f"line {line}: {_cell(cells, index)!r} is not a clock time like the rows above "
            "(hh:mm:ss); fix the time column",
            path,
        )
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds.replace(",", "."))


def _place_epochs(
    onsets: np.ndarray, codes: np.ndarray, probabilities: np.ndarray | None, path: Path
) -> Hypnogram:
    """Per-epoch rows that carry their onset: gaps become UNS, onsets must sit on the grid."""
    positions = (onsets - onsets[0]) / EPOCH_SECONDS
    index = np.round(positions).astype(int)
    off_grid = np.abs(positions - index) * EPOCH_SECONDS > GRID_TOLERANCE_S
    not_after_previous = np.diff(index, prepend=-1) <= 0
    bad = np.flatnonzero(off_grid | not_after_previous)
    if bad.size:
        raise HypnogramError(
            f"epoch onsets must increase in steps of {EPOCH_SECONDS:g} s, but data row "
            f"{bad[0] + 1} has onset {onsets[bad[0]]:g} s; fix the onset column",
            path,
        )
    stages = np.full(index[-1] + 1, UNS, dtype=np.int8)
    stages[index] = codes
    placed = None
    if probabilities is not None:
        placed = np.full((stages.size, len(STAGES)), np.nan, dtype=np.float32)
        placed[index] = probabilities
    return Hypnogram(stages, probabilities=placed, offset_s=float(onsets[0]))


def _placed_reasons(reasons: list[str], onsets: np.ndarray | None, n_epochs: int) -> list[str]:
    """Each row's reason on the epoch its onset names (rows may skip epochs)."""
    if onsets is None:
        return reasons
    placed = [""] * n_epochs
    for onset, reason in zip(onsets, reasons, strict=True):
        placed[round((onset - onsets[0]) / EPOCH_SECONDS)] = reason
    return placed


def _probabilities(
    rows: list[tuple[int, list[str]]], columns: dict[str, int], path: Path
) -> np.ndarray | None:
    if not all(name in columns for name in PROBABILITY_COLUMNS):
        return None
    return np.array(
        [
            [
                _number_cell(cells, columns[name], number, path, allow_empty=True)
                for name in PROBABILITY_COLUMNS
            ]
            for number, cells in rows
        ],
        dtype=np.float32,
    )


def _cell(cells: list[str], index: int) -> str:
    return cells[index] if index < len(cells) else ""


def _number_cell(
    cells: list[str], index: int, line: int, path: Path, allow_empty: bool = False
) -> float:
    text = _cell(cells, index)
    if allow_empty and not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise HypnogramError(
            f"line {line}: {text!r} is not a number of seconds or a probability; onset and "
            "duration columns must hold seconds from the recording start",
            path,
        ) from None


def table_text(hyp: Hypnogram, delimiter: str, ai: Hypnogram | None = None) -> str:
    """``hyp`` as the CSV (``delimiter`` ``,``) or TSV (tab) SleepViT writes, with an
    ``ai_stage`` column when the AI's stages ``ai`` are given."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    probabilities, confidence = hyp.probabilities, hyp.confidence
    writer.writerow(
        ["epoch", "onset_s", "stage"]
        + (["ai_stage"] if ai is not None else [])
        + (["confidence", *PROBABILITY_COLUMNS] if probabilities is not None else [])
        + (["reason"] if hyp.reasons is not None else [])
    )
    ai_names = ai.names() if ai is not None else None
    for index, (onset, name) in enumerate(zip(hyp.onsets_s, hyp.names(), strict=True)):
        row = [index + 1, seconds_text(onset), name]
        if ai_names is not None:
            row.append(ai_names[index])
        if probabilities is not None:
            row += [_probability(p) for p in (confidence[index], *probabilities[index])]
        if hyp.reasons is not None:
            row.append(hyp.reasons[index])
        writer.writerow(row)
    return buffer.getvalue()


def _probability(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"
