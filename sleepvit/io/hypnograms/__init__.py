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
table); the extension only has to agree with it. Each format has its module —
:mod:`~sleepvit.io.hypnograms.edf_plus`, :mod:`~sleepvit.io.hypnograms.tables`,
:mod:`~sleepvit.io.hypnograms.nsrr_xml`, :mod:`~sleepvit.io.hypnograms.sleepvit_json` —
and this package holds the entry points :func:`read_hypnogram`, :func:`write_hypnogram` and
:func:`find_hypnogram`. Every reader returns a :class:`~sleepvit.hypnogram.Hypnogram`
whose onsets count from its ``start`` (or from the recording start when the format has no
clock time); pass the recording's start and duration to get it aligned epoch by epoch
(:func:`~sleepvit.hypnogram.align_to_recording`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sleepvit.errors import HypnogramError, OutputError
from sleepvit.hypnogram import Hypnogram, align_to_recording
from sleepvit.io.atomic import atomic_open
from sleepvit.io.edf_annotations import is_edf
from sleepvit.io.hypnograms import edf_plus, nsrr_xml, sleepvit_json, tables
from sleepvit.io.paths import require_regular_file

WRITE_FORMATS: dict[str, str] = {
    ".edf": "edf",
    ".csv": "csv",
    ".tsv": "tsv",
    ".xml": "xml",
    ".json": "json",
}
"""Output extension -> format written by :func:`write_hypnogram`."""

_EXTENSION_FORMATS = {".edf": "edf", ".bdf": "edf", ".rec": "edf", ".xml": "xml", ".json": "json"}


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
    require_regular_file(path, HypnogramError, "a scoring file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError as exc:
        raise HypnogramError(f"cannot be read ({exc.strerror}); check the path", path) from exc
    if not head.strip():
        raise HypnogramError("is empty; pass the file that holds the scoring", path)
    kind = _sniff(head, path)
    reader = {
        "edf": edf_plus.read_edf,
        "xml": nsrr_xml.read_xml,
        "json": sleepvit_json.read_json,
        "table": tables.read_table,
    }[kind]
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
        raise exc.about(path) from exc


def write_hypnogram(
    hyp: Hypnogram, path: str | Path, format: str | None = None, ai: Hypnogram | None = None
) -> Path:
    """Write ``hyp`` atomically; the format comes from the extension unless given.

    ``format`` is one of ``edf``, ``csv``, ``tsv``, ``xml`` (NSRR) or ``json``. An
    existing EDF recording with signals is never overwritten.

    ``ai``: when ``hyp`` is a technician's review of an AI scoring, the AI's stages of the
    same epochs, written beside the reviewed ones so that both are kept — an ``ai_stage``
    column (CSV/TSV), ``SleepViT AI: Sleep stage …`` annotations (EDF+), ``SleepViT AI``
    events (NSRR XML) or ``ai_stages`` (JSON). Readers of every format still read the
    reviewed stages as the scoring.

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
    if ai is not None and len(ai) != len(hyp):
        raise ValueError(f"the AI scoring has {len(ai)} epochs, the reviewed one {len(hyp)}")
    edf_plus.refuse_to_overwrite_recording(path)
    if chosen == "edf":
        edf_plus.write_edf(hyp, path, ai)
    else:
        text = _TEXT_WRITERS[chosen](hyp, ai)
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


_TEXT_WRITERS = {
    "csv": lambda hyp, ai: tables.table_text(hyp, ",", ai),
    "tsv": lambda hyp, ai: tables.table_text(hyp, "\t", ai),
    "xml": nsrr_xml.nsrr_text,
    "json": sleepvit_json.json_text,
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
