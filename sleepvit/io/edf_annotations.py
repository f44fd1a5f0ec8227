"""EDF+/BDF+ annotation signals ("EDF Annotations"), read and written to the EDF+ spec.

A hypnogram travels as an EDF+ file whose only signal is ``EDF Annotations``: a header
plus time-stamped annotation lists (TALs) such as ``+30\\x1530\\x14Sleep stage 2\\x14\\x00``.
pyedflib cannot write a file without ordinary signals, and ``mne.read_annotations``
ignores the header (no start time, no validation), so both directions are done here,
byte by byte, after https://www.edfplus.info/specs/edfplus.html. Only the annotation
bytes of each data record are read, so this also works on a full PSG file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from sleepvit.errors import HypnogramError
from sleepvit.io.channels import is_annotation_label
from sleepvit.study import Annotation

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Signal header fields in the order the spec lays them out, with their widths.
_SIGNAL_FIELDS = (
    ("label", 16),
    ("transducer", 80),
    ("unit", 8),
    ("physical_min", 8),
    ("physical_max", 8),
    ("digital_min", 8),
    ("digital_max", 8),
    ("prefilter", 80),
    ("samples", 8),
    ("reserved", 32),
)
_TAL_HEAD = re.compile(rb"([+-]\d{1,12}(?:\.\d*)?)(?:\x15(\d{1,12}(?:\.\d*)?))?")
"""Onset and optional duration heading an EDF+ time-stamped annotation list (TAL)."""
_TIME_KEEPING_ONLY = re.compile(rb"([+-]\d{1,12}(?:\.\d*)?)\x14\x14\x00+")
"""A data record whose annotation signal holds its time-keeping TAL and nothing else."""


@dataclass(frozen=True)
class EdfAnnotations:
    """What an EDF+ file says about time: its start and its annotations.

    ``onset_s`` of every annotation counts from ``start`` (the first data record).
    """

    start: datetime | None
    annotations: list[Annotation]
    has_signals: bool
    """Whether the file also holds ordinary signals (a PSG rather than a scoring file)."""


def is_edf(head: bytes) -> bool:
    """Whether the first bytes of a file look like an EDF or BDF header."""
    return head.startswith((b"0       ", b"\xffBIOSEMI"))


def read_edf_annotations(path: str | Path) -> EdfAnnotations:
    """Read the start time and every annotation of an EDF+ or BDF+ file (read-only).

    Raises :class:`HypnogramError` when the file is not EDF, has no annotation signal or
    holds malformed annotation lists.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from datetime import datetime
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scoring.edf"
    >>> write_edf_annotations(out, datetime(2026, 1, 1, 22), [Annotation(0, 30, "Sleep stage W")])
    >>> read_edf_annotations(out).annotations
    [Annotation(onset_s=0.0, duration_s=30.0, description='Sleep stage W')]
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            header = handle.read(256)
            if not is_edf(header):
                raise HypnogramError(
                    "is not an EDF+ file (its header does not start like EDF); pass the "
                    "EDF+ hypnogram or export the scoring as EDF+, CSV, XML or JSON",
                    path,
                )
            if len(header) < 256:
                raise HypnogramError("has a truncated EDF header; re-export the file", path)
            n_signals = _header_int(header[252:256], "number of signals", path)
            if n_signals < 1:
                raise HypnogramError(
                    f"has a corrupt EDF header ({n_signals} signals); re-export the file", path
                )
            signal_header = handle.read(256 * n_signals)
        size = path.stat().st_size
    except OSError as exc:
        raise HypnogramError(f"cannot be read ({exc.strerror})", path) from exc
    if len(signal_header) < 256 * n_signals:
        raise HypnogramError("has a truncated EDF header; re-export the file", path)
    fields = _signal_fields(signal_header, n_signals)
    annotation_signals = [
        i for i, label in enumerate(fields["label"]) if is_annotation_label(label)
    ]
    if not annotation_signals:
        raise HypnogramError(
            "is a plain EDF file without an 'EDF Annotations' signal, so it holds no "
            "hypnogram; pass the EDF+ hypnogram file that belongs to this recording",
            path,
        )
    bytes_per_sample = 3 if header.startswith(b"\xff") else 2
    samples = [_header_int(s.encode(), "samples per record", path) for s in fields["samples"]]
    if min(samples) < 1:
        raise HypnogramError(
            f"has a corrupt EDF header (a signal with {min(samples)} samples per record); "
            "re-export the file",
            path,
        )
    record_bytes = sum(samples) * bytes_per_sample
    header_bytes = 256 * (n_signals + 1)
    n_records = (size - header_bytes) // record_bytes
    if n_records < 1:
        raise HypnogramError("has no complete data record; the file is truncated", path)
    # Read only the annotation columns of each record: a PSG file may be hundreds of MB.
    records = np.memmap(
        path, dtype=np.uint8, mode="r", offset=header_bytes, shape=(n_records, record_bytes)
    )
    columns = []
    for index in annotation_signals:
        begin = sum(samples[:index]) * bytes_per_sample
        columns.append(np.asarray(records[:, begin : begin + samples[index] * bytes_per_sample]))
    del records
    first_record_onset, annotations = _parse_records(columns, path)
    start = _scoring_start(header)
    if start is not None:
        start += timedelta(seconds=first_record_onset)
    shifted = [
        Annotation(a.onset_s - first_record_onset, a.duration_s, a.description) for a in annotations
    ]
    return EdfAnnotations(start, shifted, has_signals=len(annotation_signals) < n_signals)


def write_edf_annotations(
    path: str | Path, start: datetime | None, annotations: Sequence[Annotation]
) -> None:
    """Write an EDF+ file whose only signal is ``EDF Annotations`` (one data record).

    ``start`` becomes the header start date/time (``None`` writes the EDF+ "unknown"
    start 01.01.85 00.00.00); onsets count from it. The caller makes the write atomic.
    The file has one data record as long as the annotations span, so EDFbrowser shows
    the scoring over its real length.
    """
    moment = start or datetime(1985, 1, 1)
    whole_second = moment.replace(microsecond=0)
    fraction = (moment - whole_second).total_seconds()
    tals = bytearray(f"+{_number(fraction)}\x14\x14\x00".encode())
    for item in annotations:
        text = " ".join(item.description.split())
        tals += (
            f"+{_number(item.onset_s + fraction)}\x15{_number(item.duration_s)}\x14{text}\x14\x00"
        ).encode()
    if len(tals) % 2:
        tals += b"\x00"
    end_s = max((a.onset_s + a.duration_s for a in annotations), default=0.0)
    record_s = max(1, int(np.ceil(end_s + fraction)))
    if start is None:
        recording = "Startdate X X X X"
    else:
        recording = f"Startdate {moment.day:02d}-{_MONTHS[moment.month - 1]}-{moment.year} X X X"
    header = (
        _field("0", 8)
        + _field("X X X X", 80)
        + _field(recording, 80)
        + _field(f"{moment:%d.%m.%y}", 8)
        + _field(f"{moment:%H.%M.%S}", 8)
        + _field(str(512), 8)
        + _field("EDF+C", 44)
        + _field("1", 8)
        + _field(str(record_s), 8)
        + _field("1", 4)
    )
    values = {
        "label": "EDF Annotations",
        "physical_min": "-1",
        "physical_max": "1",
        "digital_min": "-32768",
        "digital_max": "32767",
        "samples": str(len(tals) // 2),
    }
    header += "".join(_field(values.get(name, ""), width) for name, width in _SIGNAL_FIELDS)
    with open(path, "wb") as handle:
        handle.write(header.encode("ascii"))
        handle.write(bytes(tals))


def parse_tals(record: bytes) -> tuple[float | None, list[Annotation], list[bytes]]:
    """The TALs of one data record: its time-keeping onset, its annotations, its malformed TALs.

    The time-keeping TAL is the first one without text (``None`` when a non-compliant record
    has none). The caller decides what a malformed TAL means: a PSG is still readable without
    its annotations, a hypnogram file is not.

    Examples
    --------
    >>> parse_tals(b"+30\\x14\\x14\\x00+30\\x1530\\x14Sleep stage 2\\x14\\x00\\x00")
    (30.0, [Annotation(onset_s=30.0, duration_s=30.0, description='Sleep stage 2')], [])
    >>> parse_tals(b"+60.5\\x14\\x14\\x00\\x00\\x00")
    (60.5, [], [])
    """
    plain = _TIME_KEEPING_ONLY.fullmatch(record)
    if plain is not None:  # most records: the general path costs 1 s on an 8-h night
        return float(plain.group(1)), [], []
    record_onset = None
    annotations: list[Annotation] = []
    malformed: list[bytes] = []
    for tal in record.split(b"\x00"):
        if not tal:
            continue
        parts = tal.split(b"\x14")
        timing = _TAL_HEAD.fullmatch(parts[0])
        if timing is None or len(parts) < 2:
            malformed.append(tal)
            continue
        onset = float(timing.group(1))
        duration = float(timing.group(2) or 0.0)
        texts = [_annotation_text(p) for p in parts[1:] if p.strip()]
        if not texts and record_onset is None:
            record_onset = onset
        annotations.extend(Annotation(onset, duration, text) for text in texts)
    return record_onset, annotations, malformed


def _annotation_text(raw: bytes) -> str:
    """An annotation's text: UTF-8 as EDF+ prescribes, Latin-1 where that fails.

    Recorders from before EDF+ required UTF-8 still write Latin-1 (``Schlaf gestört``);
    any byte sequence is valid Latin-1, so an annotation never makes a file unreadable.

    >>> _annotation_text(b"Schlaf gest\\xc3\\xb6rt"), _annotation_text(b"Schlaf gest\\xf6rt")
    ('Schlaf gestört', 'Schlaf gestört')
    """
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


def _parse_records(columns: list[np.ndarray], path: Path) -> tuple[float, list[Annotation]]:
    first_record_onset: float | None = None
    annotations: list[Annotation] = []
    for record in range(columns[0].shape[0]):
        onset, found, malformed = parse_tals(b"".join(c[record].tobytes() for c in columns))
        if malformed:
            raise HypnogramError(
                f"has a malformed annotation in data record {record + 1} "
                f"({malformed[0][:40]!r}); the file is damaged, re-export it",
                path,
            )
        if record == 0:  # when the first record starts after the header's start time
            first_record_onset = onset
        annotations += found
    return first_record_onset or 0.0, annotations


def _signal_fields(raw: bytes, n_signals: int) -> dict[str, list[str]]:
    fields, position = {}, 0
    for name, width in _SIGNAL_FIELDS:
        chunk = raw[position : position + width * n_signals]
        fields[name] = [
            chunk[i * width : (i + 1) * width].decode("latin-1").strip(" \x00")
            for i in range(n_signals)
        ]
        position += width * n_signals
    return fields


def _header_int(raw: bytes, what: str, path: Path) -> int:
    try:
        return int(raw.decode("latin-1").strip(" \x00"))
    except ValueError:
        raise HypnogramError(
            f"has a corrupt EDF header ({what} is {raw.decode('latin-1').strip()!r}); "
            "the file is damaged, re-export it",
            path,
        ) from None


def header_start(header: bytes) -> datetime | None:
    """The start date/time in the first 256 bytes of an EDF(+) header; ``None`` if unreadable.

    Examples
    --------
    Some recorders write the midnight that ends a day as ``24.00.00`` (as ISO 8601 allows):
    it is read as 00.00.00 of the next day.

    >>> head = b" " * 88 + b"Startdate 02-JAN-2026".ljust(80) + b"02.01.2623.15.00"
    >>> header_start(head)
    datetime.datetime(2026, 1, 2, 23, 15)
    >>> header_start(head.replace(b"23.15.00", b"24.00.00"))
    datetime.datetime(2026, 1, 3, 0, 0)
    """
    text = header.decode("latin-1")
    try:
        day, month, year = (int(x) for x in text[168:176].split("."))
        hour, minute, second = (int(x) for x in text[176:184].split("."))
    except ValueError:
        return None
    next_day = (hour, minute, second) == (24, 0, 0)
    if next_day:
        hour = 0
    # EDF+ keeps the 4-digit year in the recording field; plain EDF clips to 1985-2084.
    match = re.match(r"Startdate \d{2}-([A-Z]{3})-(\d{4})", text[88:168])
    if match and match.group(1) in _MONTHS:
        year = int(match.group(2))
    else:
        year += 1900 if year >= 85 else 2000
    try:
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return moment + timedelta(days=1) if next_day else moment


def _scoring_start(header: bytes) -> datetime | None:
    text = header.decode("latin-1")
    if text[88:168].startswith("Startdate X") and text[168:184] == "01.01.8500.00.00":
        return None  # EDF+ for "start unknown" (what write_edf_annotations writes for None)
    return header_start(header)


def _field(text: str, width: int) -> str:
    return text[:width].ljust(width)


def _number(value: float) -> str:
    """A TAL number: plain decimal, no exponent, no trailing zeros."""
    return f"{value:.6f}".rstrip("0").rstrip(".")
