"""Hypnogram files: read any common scoring format, write the four SleepViT exports.

======================  =========  =============================================================
format                  read       write
======================  =========  =============================================================
EDF+ annotations        yes        ``Sleep stage W/N1/N2/N3/R``, ``?`` for UNS, runs merged
(Sleep-EDF, AASM, …)               (``.edf``)
CSV / TSV               yes        ``epoch,onset_s,stage[,confidence,p_W,p_N1,p_N2,p_N3,p_REM]``
                                   (``.csv``, ``.tsv``; epochs count from 1)
NSRR XML                yes        ``PSGAnnotation/ScoredEvents`` stage events (``.xml``)
Profusion XML           yes        —
JSON                    yes        SleepViT's own: stages, start, probabilities (``.json``)
======================  =========  =============================================================

The format is recognised from the content (EDF header, ``<``, ``{``, otherwise a text
table); the extension only has to agree with it. Every reader returns a
:class:`~sleepvit.hypnogram.Hypnogram` whose onsets count from its ``start`` (or from the
recording start when the format has no clock time); pass the recording's start and
duration to get it aligned epoch by epoch (:func:`~sleepvit.hypnogram.align_to_recording`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import numpy as np

from sleepvit import __version__
from sleepvit.errors import HypnogramError, OutputError
from sleepvit.hypnogram import (
    GRID_TOLERANCE_S,
    STAGES,
    UNS,
    Hypnogram,
    align_to_recording,
    is_stage_label,
    parse_stage,
    stage_name,
)
from sleepvit.io.atomic import atomic_open, atomic_path
from sleepvit.io.edf_annotations import (
    is_edf,
    read_edf_annotations,
    write_edf_annotations,
)
from sleepvit.slots import EPOCH_SECONDS
from sleepvit.study import Annotation

WRITE_FORMATS: dict[str, str] = {
    ".edf": "edf",
    ".csv": "csv",
    ".tsv": "tsv",
    ".xml": "xml",
    ".json": "json",
}
"""Output extension -> format written by :func:`write_hypnogram`."""

JSON_FORMAT = "sleepvit-hypnogram"
PROBABILITY_COLUMNS = tuple(f"p_{stage}" for stage in STAGES)
_EDF_NAMES = {"W": "W", "N1": "N1", "N2": "N2", "N3": "N3", "REM": "R", "UNS": "?"}
_NSRR_CONCEPTS = {
    "W": "Wake|0",
    "N1": "Stage 1 sleep|1",
    "N2": "Stage 2 sleep|2",
    "N3": "Stage 3 sleep|3",
    "REM": "REM sleep|5",
    "UNS": "Unscored|9",
}
_EXTENSION_FORMATS = {".edf": "edf", ".bdf": "edf", ".rec": "edf", ".xml": "xml", ".json": "json"}
# Header spellings (lower case, letters and digits only) of the columns a table may have.
_COLUMNS = {
    "stage": {"stage", "stages", "sleepstage", "hypnogram", "hypno", "label", "score", "scoring",
              "annotation", "description", "event", "eventconcept", "sleepstages"},
    "onset": {"onset", "onsets", "onsetsec", "onsetseconds", "start", "starts", "startsec",
              "starttime", "onsettime", "begin", "timesec", "times", "time", "timehhmmss",
              "clocktime"},
    "duration": {"duration", "durations", "durationsec", "durationseconds", "dur", "length"},
}  # fmt: skip
HEADER_SEARCH_LINES = 50
"""How far down a table the column header may sit (below a patient preamble)."""
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})[:.](\d{2}(?:[.,]\d+)?)")


def read_hypnogram(
    path: str | Path,
    recording_start: datetime | None = None,
    recording_duration_s: float | None = None,
) -> Hypnogram:
    """Read a scoring file of any supported format (see the module table).

    Without ``recording_start`` the hypnogram keeps the file's own clock (``start``,
    ``offset_s``). With it, the result is aligned to the recording: one epoch per
    recording epoch, ``offset_s = 0`` (see :func:`~sleepvit.hypnogram.align_to_recording`).
    ``metadata["format"]`` names the format that was read.

    Raises :class:`~sleepvit.errors.HypnogramError` (one line: file, problem, fix) when
    the file is not a hypnogram or does not fit the recording.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "scoring.csv"
    >>> _ = path.write_text("Stage\\nWake\\nS1\\nS2\\nS4\\nREM\\n")
    >>> read_hypnogram(path).names()
    ['W', 'N1', 'N2', 'N3', 'REM']
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError as exc:
        raise HypnogramError(f"cannot be read ({exc.strerror}); check the path", path) from exc
    if not head.strip():
        raise HypnogramError("is empty; pass the file that holds the scoring", path)
    kind = _sniff(head, path)
    reader = {"edf": _read_edf, "xml": _read_xml, "json": _read_json, "table": _read_table}[kind]
    try:
        hyp = reader(path)
    except ValueError as exc:  # a core helper's complaint about this file's content
        raise HypnogramError(f"{exc}; fix or re-export the scoring", path) from exc
    if not len(hyp):
        raise HypnogramError("holds no epochs; the scoring is empty", path)
    if recording_start is None:
        return hyp
    try:
        return align_to_recording(hyp, recording_start, recording_duration_s)
    except HypnogramError as exc:
        raise HypnogramError(str(exc), path) from exc


def write_hypnogram(hyp: Hypnogram, path: str | Path, format: str | None = None) -> Path:
    """Write ``hyp`` atomically; the format comes from the extension unless given.

    ``format`` is one of ``edf``, ``csv``, ``tsv``, ``xml`` (NSRR) or ``json``. An
    existing EDF recording with signals is never overwritten.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> hyp = Hypnogram.from_names(["W", "N2", "N2", "REM"], start=datetime(2026, 1, 1, 23))
    >>> out = write_hypnogram(hyp, pathlib.Path(tempfile.mkdtemp()) / "night.annotations.edf")
    >>> read_hypnogram(out).names()
    ['W', 'N2', 'N2', 'REM']
    """
    path = Path(path)
    chosen = format or WRITE_FORMATS.get(path.suffix.lower())
    if chosen not in WRITE_FORMATS.values():
        raise OutputError(
            f"cannot tell which hypnogram format to write from {path.name!r}; use one of "
            f"{', '.join(WRITE_FORMATS)} as the extension",
            path,
        )
    _refuse_to_overwrite_recording(path)
    if chosen == "edf":
        with atomic_path(path) as tmp:
            write_edf_annotations(tmp, hyp.start, _edf_annotations(hyp))
    else:
        text = _TEXT_WRITERS[chosen](hyp)
        with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return path


def find_hypnogram(edf_path: str | Path) -> Path | None:
    """The expert scoring stored next to a recording, found by name, or ``None``.

    Looks, case-insensitively, for the Sleep-EDF partner (``SC4001E0-PSG.edf`` ↔
    ``SC4001EC-Hypnogram.edf``: same first 7 characters, any letter at the 8th;
    ``ST7011J0-PSG.edf`` ↔ ``ST7011JP-Hypnogram.edf``), then ``<stem>-Hypnogram.edf``,
    ``<stem>.hypnogram.{edf,csv,tsv,xml,json}``, ``<stem>-nsrr.xml`` and
    ``<stem>-profusion.xml``. A ``.hypnogram.csv`` with probability columns is a
    ``sleepvit score`` output, not a reference scoring, and is skipped.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> find_hypnogram(folder / "SC4001E0-PSG.edf").name
    'SC4001EC-Hypnogram.edf'
    """
    edf_path = Path(edf_path)
    folder, stem = edf_path.parent, edf_path.stem
    try:
        siblings = {p.name.lower(): p for p in folder.iterdir() if p.is_file() and p != edf_path}
    except OSError:
        return None
    candidates: list[str] = []
    if len(stem) == 12 and stem.lower().endswith("-psg"):
        candidates += sorted(
            name
            for name in siblings
            if name.startswith(stem[:7].lower())
            and name[7:8].isalpha()
            and name[8:] == "-hypnogram.edf"
        )
    candidates.append(f"{stem}-hypnogram.edf".lower())
    candidates += [f"{stem}.hypnogram{ext}".lower() for ext in WRITE_FORMATS]
    candidates += [f"{stem}-nsrr.xml".lower(), f"{stem}-profusion.xml".lower()]
    for name in candidates:
        if name in siblings and not _is_model_scoring(siblings[name]):
            return siblings[name]
    return None


def _sniff(head: bytes, path: Path) -> str:
    if is_edf(head):
        kind = "edf"
    elif head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        kind = "xml"
    elif head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        kind = "json"
    elif b"\x00" in head or head.startswith(b"%PDF"):
        raise HypnogramError(
            "is a binary file that is not EDF; pass an EDF+, CSV, TSV, XML or JSON scoring",
            path,
        )
    else:
        kind = "table"
    expected = _EXTENSION_FORMATS.get(path.suffix.lower())
    if expected is not None and expected != kind:
        found = {"table": "a text table", "edf": "EDF", "xml": "XML", "json": "JSON"}[kind]
        raise HypnogramError(
            f"has the extension {path.suffix} but holds {found}; rename it to match its "
            "content or re-export the scoring",
            path,
        )
    return kind


def _stage_segments(events: list[Annotation]) -> list[tuple[float, float, int]]:
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


# --- EDF+ -------------------------------------------------------------------------------


def _read_edf(path: Path) -> Hypnogram:
    content = read_edf_annotations(path)
    segments = _stage_segments(content.annotations)
    if not segments:
        found = sorted({a.description for a in content.annotations})
        listed = ", ".join(repr(d) for d in found[:5]) or "none"
        raise HypnogramError(
            f"holds no sleep-stage annotations (annotations found: {listed}); pass the "
            "hypnogram file, e.g. the '-Hypnogram.edf' next to the recording",
            path,
        )
    hyp = Hypnogram.from_segments(segments, start=content.start)
    hyp.metadata.update(
        format="edf",
        source=str(path),
        other_annotations=len(content.annotations) - len(segments),
    )
    return hyp


def _edf_annotations(hyp: Hypnogram) -> list[Annotation]:
    return [
        Annotation(onset, duration, f"Sleep stage {_EDF_NAMES[stage_name(code)]}")
        for onset, duration, code in hyp.segments()
    ]


def _refuse_to_overwrite_recording(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return
    if is_edf(head):
        try:
            holds_signals = read_edf_annotations(path).has_signals
        except HypnogramError:
            holds_signals = True  # an EDF without annotations is a recording
        if holds_signals:
            raise OutputError(
                "is a recording with signals; refusing to overwrite it with a hypnogram, "
                "choose another output name",
                path,
            )


# --- CSV / TSV --------------------------------------------------------------------------


def _read_table(path: Path) -> Hypnogram:
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
    hyp = Hypnogram([_stage_cell(cell, number, path) for number, cell in cells])
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
                _stage_cell(_cell(cells, stage_at), number, path)
        # An event list: stage runs among other events (arousals, apneas) that are skipped.
        events = [
            Annotation(onset, duration, _cell(cells, stage_at))
            for onset, duration, (_, cells) in zip(onsets, durations, rows, strict=True)
        ]
        segments = _stage_segments(events)
        if not segments:
            raise HypnogramError("lists events but no sleep stages; it is not a hypnogram", path)
        hyp = Hypnogram.from_segments(segments)
    else:
        codes = [_stage_cell(_cell(cells, stage_at), number, path) for number, cells in rows]
        probabilities = _probabilities(rows, columns, path)
        if onsets is None:
            hyp = Hypnogram(codes, probabilities=probabilities)
        else:
            hyp = _place_epochs(onsets, np.array(codes), probabilities, path)
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


def _stage_cell(text: str, line: int, path: Path) -> int:
    try:
        return parse_stage(text)
    except ValueError:
        raise HypnogramError(
            f"line {line}: {text!r} is not a sleep stage (expected W, N1, N2, N3, R/REM or "
            "?/UNS, or R&K numbers 0-5); correct the stage column",
            path,
        ) from None


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


def _csv_text(hyp: Hypnogram, delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    probabilities, confidence = hyp.probabilities, hyp.confidence
    writer.writerow(
        ["epoch", "onset_s", "stage"]
        + (["confidence", *PROBABILITY_COLUMNS] if probabilities is not None else [])
    )
    for index, (onset, name) in enumerate(zip(hyp.onsets_s, hyp.names(), strict=True)):
        row = [index + 1, _seconds(onset), name]
        if probabilities is not None:
            row += [_probability(p) for p in (confidence[index], *probabilities[index])]
        writer.writerow(row)
    return buffer.getvalue()


# --- XML (NSRR and Compumedics Profusion) -------------------------------------------------


def _read_xml(path: Path) -> Hypnogram:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise HypnogramError(
            f"is not well-formed XML ({exc}); re-export the scoring", path
        ) from None
    epoch_s = _xml_float(root.findtext("EpochLength"), EPOCH_SECONDS, path)
    if root.find("SleepStages") is not None:
        stages = [_profusion_stage(e.text, path) for e in root.iter("SleepStage")]
        hyp = Hypnogram(stages, epoch_s=epoch_s)
        hyp.metadata.update(format="profusion-xml", source=str(path))
        return hyp
    events = root.findall("./ScoredEvents/ScoredEvent")
    if not events:
        raise HypnogramError(
            f"is XML (<{root.tag}>) but neither NSRR (PSGAnnotation/ScoredEvents) nor "
            "Profusion (CMPStudyConfig/SleepStages); export the scoring in one of those",
            path,
        )
    start = None
    segments = []
    for event in events:
        concept = (event.findtext("EventConcept") or "").strip()
        kind = (event.findtext("EventType") or "").lower()
        if concept == "Recording Start Time":
            start = _nsrr_clock(event.findtext("ClockTime") or "")
        elif "stage" in kind or (not kind and is_stage_label(concept)):
            try:
                code = parse_stage(concept)
            except ValueError:
                raise HypnogramError(
                    f"has a stage event {concept!r} that is not a sleep stage; correct it",
                    path,
                ) from None
            onset = _xml_float(event.findtext("Start"), None, path)
            duration = _xml_float(event.findtext("Duration"), 0.0, path)
            segments.append((onset, duration, code))
    if not segments:
        raise HypnogramError("holds scored events but no sleep stages; it is not a hypnogram", path)
    hyp = Hypnogram.from_segments(segments, epoch_s=epoch_s, start=start)
    hyp.metadata.update(format="nsrr-xml", source=str(path))
    return hyp


def _profusion_stage(text: str | None, path: Path) -> int:
    try:
        return parse_stage((text or "").strip())
    except ValueError:
        raise HypnogramError(
            f"has a SleepStage value {text!r} that is not a Profusion stage code (0-5, 9); "
            "correct it or re-export the scoring",
            path,
        ) from None


def _xml_float(text: str | None, default: float | None, path: Path) -> float:
    if text is None or not text.strip():
        if default is None:
            raise HypnogramError("has a stage event without a <Start>; re-export it", path)
        return default
    try:
        return float(text)
    except ValueError:
        raise HypnogramError(
            f"has {text.strip()!r} where seconds were expected; correct it or re-export it",
            path,
        ) from None


def _nsrr_clock(text: str) -> datetime | None:
    # NSRR writes "dd.mm.yy hh.mm.ss"; de-identified files blank the date as 00.00.00.
    try:
        moment = datetime.strptime(text.strip(), "%d.%m.%y %H.%M.%S")
    except ValueError:
        return None
    # Two-digit years span 1985-2084, as in EDF headers.
    two_digits = moment.year % 100
    return moment.replace(year=(1900 if two_digits >= 85 else 2000) + two_digits)


def _nsrr_text(hyp: Hypnogram) -> str:
    root = ET.Element("PSGAnnotation")
    ET.SubElement(root, "SoftwareVersion").text = f"SleepViT {__version__}"
    ET.SubElement(root, "EpochLength").text = _seconds(hyp.epoch_s)
    events = ET.SubElement(root, "ScoredEvents")
    if hyp.start is not None:
        _nsrr_event(events, "", "Recording Start Time", 0.0, hyp.offset_s + hyp.duration_s)
        ET.SubElement(events[-1], "ClockTime").text = f"{hyp.start:%d.%m.%y %H.%M.%S}"
    for onset, duration, code in hyp.segments():
        _nsrr_event(events, "Stages|Stages", _NSRR_CONCEPTS[stage_name(code)], onset, duration)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _nsrr_event(parent: ET.Element, kind: str, concept: str, onset: float, duration: float):
    event = ET.SubElement(parent, "ScoredEvent")
    ET.SubElement(event, "EventType").text = kind
    ET.SubElement(event, "EventConcept").text = concept
    ET.SubElement(event, "Start").text = _seconds(onset)
    ET.SubElement(event, "Duration").text = _seconds(duration)


# --- JSON -------------------------------------------------------------------------------


def _read_json(path: Path) -> Hypnogram:
    try:
        content = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HypnogramError(f"is not valid JSON ({exc}); re-export the scoring", path) from None
    if isinstance(content, list):
        content = {"stages": content}
    if not isinstance(content, dict) or not isinstance(content.get("stages"), list):
        raise HypnogramError(
            f"is JSON without a 'stages' list; write it with SleepViT ({JSON_FORMAT})", path
        )
    stages = [_stage_cell(str(s), i + 1, path) for i, s in enumerate(content["stages"])]
    probabilities = content.get("probabilities")
    if probabilities is not None:
        probabilities = np.array(
            [[math.nan if p is None else p for p in row] for row in probabilities], np.float32
        )
    try:
        start = datetime.fromisoformat(content["start"]) if content.get("start") else None
        hyp = Hypnogram(
            stages,
            start=start,
            probabilities=probabilities,
            epoch_s=float(content.get("epoch_s", EPOCH_SECONDS)),
            offset_s=float(content.get("offset_s", 0.0)),
            metadata=dict(content.get("metadata") or {}),
        )
    except (TypeError, ValueError) as exc:
        raise HypnogramError(f"has an invalid field ({exc}); re-export the scoring", path) from exc
    hyp.metadata.update(format="json", source=str(path))
    return hyp


def _json_text(hyp: Hypnogram) -> str:
    content = {
        "format": JSON_FORMAT,
        "version": 1,
        "start": hyp.start.isoformat() if hyp.start is not None else None,
        "epoch_s": hyp.epoch_s,
        "offset_s": hyp.offset_s,
        "stages": hyp.names(),
        "probabilities": None
        if hyp.probabilities is None
        else [[_json_probability(p) for p in row] for row in hyp.probabilities],
        "metadata": hyp.metadata,
    }
    return json.dumps(content, indent=1, default=str) + "\n"


def _json_probability(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


_TEXT_WRITERS = {
    "csv": lambda hyp: _csv_text(hyp, ","),
    "tsv": lambda hyp: _csv_text(hyp, "\t"),
    "xml": _nsrr_text,
    "json": _json_text,
}


def _is_model_scoring(path: Path) -> bool:
    if not path.name.lower().endswith(".hypnogram.csv"):
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            first_line = handle.readline()
    except OSError:
        return False
    return "p_W" in first_line


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _probability(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"
