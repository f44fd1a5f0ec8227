"""The raw header of an EDF, EDF+ or BDF file (256 + 256·ns bytes of ASCII), validated.

Every broken file gets one precise :class:`InvalidRecordingError` naming the file, the problem
and the fix, instead of a reader's traceback: empty, not EDF at all (with a guess at what it
is), cut short, garbage in the counts or durations. What pyedflib would refuse but MNE can
still read (digital minimum > maximum, number of records -1, a file shorter than declared) is
listed in :attr:`EdfHeader.non_compliant` instead; what pyedflib would refuse but this module
resolves itself (a start date or time that is not ``dd.mm.yy hh.mm.ss``, including the
``24.00.00`` some recorders write for midnight) in :attr:`EdfHeader.resolved`; and what the
user should know in :attr:`EdfHeader.notes`. Bytes after the last declared data record are
ignored (the header's record count is trusted when the file holds that many records).

Header text is ASCII by the EDF specification. Fields are trimmed of spaces and of the NUL
bytes some exporters pad with; text that is not ASCII is read as UTF-8 when it is valid UTF-8,
as Latin-1 otherwise, and a note names the fields.

Examples
--------
>>> read_header("night.edf").file_format  # doctest: +SKIP
'EDF+C'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sleepvit.errors import InvalidRecordingError
from sleepvit.io.channels import is_annotation_label
from sleepvit.io.edf_annotations import header_start
from sleepvit.io.paths import require_regular_file
from sleepvit.study import Identity

FIX_EXPORT = "export the night again from the acquisition software as EDF+"
FIX_COPY = "copy the file again from its source"
_DIGITAL_RANGE = {2: (-32768, 32767), 3: (-8388608, 8388607)}


@dataclass(frozen=True)
class SignalHeader:
    """One signal's 256-byte header block, parsed."""

    label: str
    transducer: str
    unit: str
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    prefilter: str
    samples_per_record: int
    label_bytes: bytes
    """The 16-byte label field as stored; other readers trim it differently than ``label``."""

    @property
    def is_annotation(self) -> bool:
        return is_annotation_label(self.label)

    @property
    def gain(self) -> float:
        """Physical units per digital step (EDF's linear map)."""
        return (self.physical_max - self.physical_min) / (self.digital_max - self.digital_min)

    @property
    def offset(self) -> float:
        return self.physical_min - self.gain * self.digital_min


@dataclass
class EdfHeader:
    """What the file declares about itself, validated, plus what its size implies."""

    path: Path
    file_format: str
    """``EDF``, ``EDF+C``, ``EDF+D``, ``BDF``, ``BDF+C`` or ``BDF+D``."""
    patient: str
    recording: str
    start: datetime
    header_bytes: int
    record_duration: float
    signals: list[SignalHeader]
    n_records: int
    """Complete data records that will be read."""
    non_compliant: list[str] = field(default_factory=list)
    """Why pyedflib would refuse this file (read with MNE instead)."""
    resolved: list[str] = field(default_factory=list)
    """Why pyedflib would refuse this file, where the header parse resolved the fault itself
    (the samples are read without pyedflib's vetting; MNE would fail on them too)."""
    notes: list[str] = field(default_factory=list)
    """Problems the user should know about (shown as warnings)."""

    @property
    def bytes_per_sample(self) -> int:
        return 3 if self.file_format.startswith("BDF") else 2

    @property
    def is_plus(self) -> bool:
        return "+" in self.file_format

    @property
    def record_bytes(self) -> int:
        return self.bytes_per_sample * sum(s.samples_per_record for s in self.signals)

    def sfreq(self, index: int) -> float:
        return self.signals[index].samples_per_record / self.record_duration


def _foreign_kind(head: bytes) -> str:
    """A guess at what a non-EDF file is, for the error message."""
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive or Office document"
    if head.lstrip().startswith(b"<"):
        return "an XML or HTML file"
    if head.lstrip()[:1] in (b"{", b"["):
        return "a JSON file"
    text = head[:200]
    if text and all(32 <= b < 127 or b in (9, 10, 13) for b in text):
        first_line = text.splitlines()[0] if text.splitlines() else text
        if any(sep in first_line for sep in (b",", b";", b"\t")):
            return "a CSV/text table"
        return "a text file"
    return "unrecognised binary data"


def _trim(text: str) -> str:
    """A header field without its padding: spaces by the specification, and NULs, which some
    exporters pad with as C strings end (a NUL-padded patient name would otherwise carry 73
    NULs into every report)."""
    return text.split("\x00", 1)[0].strip()


def _text(raw: bytes) -> str:
    return _trim(raw.decode("latin-1"))


def _decoded(raw: bytes) -> tuple[str, str]:
    """Header text and how it was decoded: ``ascii``, ``UTF-8`` or ``Latin-1``.

    >>> _decoded(b"Zo\\xc3\\xab\\x00\\x00"), _decoded(b"Zo\\xeb  ")
    (('Zoë', 'UTF-8'), ('Zoë', 'Latin-1'))
    """
    if raw.isascii():
        return _trim(raw.decode("ascii")), "ascii"
    try:
        return _trim(raw.decode("utf-8")), "UTF-8"
    except UnicodeDecodeError:
        return _trim(raw.decode("latin-1")), "Latin-1"


def _field_number(raw: bytes, what: str, path: Path, integer: bool = True) -> float:
    """The number in a header field; ``what`` names the field in the error message."""
    text = _text(raw)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (integer and not value.is_integer()):
        kind = "an integer" if integer else "a number"
        raise InvalidRecordingError(
            f"header field {what} is {text!r}, not {kind}; the header is corrupt, {FIX_EXPORT}",
            path,
        )
    return int(value) if integer else value


def read_header(path: str | Path) -> EdfHeader:
    """Parse and validate the header of ``path``; raise :class:`InvalidRecordingError` if broken.

    >>> read_header("night.edf").file_format  # doctest: +SKIP
    'EDF+C'
    """
    path = Path(path)
    require_regular_file(path, InvalidRecordingError, "an EDF/BDF recording")
    try:
        return _read_header(path)
    except OSError as exc:
        raise InvalidRecordingError(
            f"cannot be read ({exc.strerror}); check that the file is readable and the drive "
            "is connected",
            path,
        ) from exc


def _read_header(path: Path) -> EdfHeader:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(256)
        if size == 0:
            raise InvalidRecordingError(f"the file is empty (0 bytes); {FIX_COPY}", path)
        if head[:8] == b"\xffBIOSEMI":
            base = "BDF"
        elif _text(head[:8]) == "0" and len(head) >= 8:
            base = "EDF"
        else:
            raise InvalidRecordingError(
                f"not an EDF/EDF+/BDF recording (it looks like {_foreign_kind(head)}); "
                f"{FIX_EXPORT} and open that file",
                path,
            )
        if len(head) < 256:
            raise InvalidRecordingError(
                f"header is cut short: the file has {size} bytes, an EDF header needs at least "
                f"256; {FIX_COPY}",
                path,
            )
        ns = _field_number(head[252:256], "'number of signals'", path)
        header_bytes = _field_number(head[184:192], "'number of bytes in header'", path)
        if ns < 1 or header_bytes != 256 * (ns + 1):
            raise InvalidRecordingError(
                f"header says {ns} signals but {header_bytes} header bytes (expected "
                f"{256 * (ns + 1)} = 256 × (signals + 1)); the number of signals is corrupt, "
                f"{FIX_EXPORT}",
                path,
            )
        if size < header_bytes:
            raise InvalidRecordingError(
                f"header is cut short: {size} of {header_bytes} header bytes present; {FIX_COPY}",
                path,
            )
        block = f.read(header_bytes - 256)
    return _parse_header(path, size, base, head, block, ns, header_bytes)


def _split_fields(block: bytes, ns: int) -> dict[str, list[bytes]]:
    widths = (
        ("label", 16),
        ("transducer", 80),
        ("unit", 8),
        ("physical minimum", 8),
        ("physical maximum", 8),
        ("digital minimum", 8),
        ("digital maximum", 8),
        ("prefiltering", 80),
        ("samples per record", 8),
        ("reserved", 32),
    )
    fields, pos = {}, 0
    for name, width in widths:
        fields[name] = [block[pos + i * width : pos + (i + 1) * width] for i in range(ns)]
        pos += width * ns
    return fields


def _parse_header(
    path: Path, size: int, base: str, head: bytes, block: bytes, ns: int, header_bytes: int
) -> EdfHeader:
    notes: list[str] = []
    non_compliant: list[str] = []
    resolved: list[str] = []
    reserved = _text(head[192:236])
    kind = reserved[:5] if reserved[:5] in ("EDF+C", "EDF+D", "BDF+C", "BDF+D") else ""
    file_format = (base + kind[3:]) if kind else base
    not_ascii: dict[str, list[str]] = {}

    def text(raw: bytes, what: str) -> str:
        decoded, encoding = _decoded(raw)
        if encoding != "ascii":
            not_ascii.setdefault(encoding, []).append(what)
        return decoded

    patient, recording = text(head[8:88], "patient"), text(head[88:168], "recording")
    start = header_start(head)
    date, clock = _text(head[168:176]), _text(head[176:184])
    if start is None:
        notes.append(
            f"start date/time {date!r} {clock!r} is not dd.mm.yy hh.mm.ss; times are shown "
            "relative to 01.01.1985 00:00:00"
        )
        resolved.append("start date/time")
        start = datetime(1985, 1, 1)
    elif clock == "24.00.00":
        notes.append(
            f"start time '24.00.00' on {date} is read as 00.00.00 of the next day "
            f"({start:%d.%m.%Y})"
        )
        resolved.append("start time 24.00.00")
    declared = _field_number(head[236:244], "'number of data records'", path)
    duration = _field_number(head[244:252], "'duration of a data record'", path, integer=False)
    if declared < -1:
        raise InvalidRecordingError(
            f"header field 'number of data records' is {declared}; the header is corrupt, "
            f"{FIX_EXPORT}",
            path,
        )
    if duration <= 0:
        raise InvalidRecordingError(
            f"header field 'duration of a data record' is {duration:g} s; it must be positive, "
            f"{FIX_EXPORT}",
            path,
        )
    fields = _split_fields(block, ns)
    signals = []
    for i in range(ns):

        def number(name: str, integer: bool = False, i: int = i) -> float:
            what = f"'{name}' of signal {i + 1} ({_text(fields['label'][i])})"
            return _field_number(fields[name][i], what, path, integer)

        signal = SignalHeader(
            label=text(fields["label"][i], f"label of signal {i + 1}"),
            transducer=text(fields["transducer"][i], f"transducer of signal {i + 1}"),
            unit=text(fields["unit"][i], f"unit of signal {i + 1}"),
            physical_min=number("physical minimum"),
            physical_max=number("physical maximum"),
            digital_min=number("digital minimum", integer=True),
            digital_max=number("digital maximum", integer=True),
            prefilter=text(fields["prefiltering"][i], f"prefiltering of signal {i + 1}"),
            samples_per_record=number("samples per record", integer=True),
            label_bytes=fields["label"][i],
        )
        if signal.samples_per_record < 1:
            raise InvalidRecordingError(
                f"signal {i + 1} ({signal.label}) has {signal.samples_per_record} samples per "
                f"record; it must be at least 1, {FIX_EXPORT}",
                path,
            )
        low, high = _DIGITAL_RANGE[3 if base == "BDF" else 2]
        if signal.digital_min > signal.digital_max:
            non_compliant.append(f"digital minimum > maximum in signal {i + 1} ({signal.label})")
        elif not low <= signal.digital_min < signal.digital_max <= high:
            non_compliant.append(f"digital range of signal {i + 1} ({signal.label})")
        signals.append(signal)
    record_bytes = (3 if base == "BDF" else 2) * sum(s.samples_per_record for s in signals)
    complete, partial = divmod(size - header_bytes, record_bytes)
    n_records = complete if declared == -1 else min(declared, complete)
    if declared == -1:
        non_compliant.append("number of data records is -1 (recording not closed)")
    elif complete < declared:
        non_compliant.append("file shorter than the header declares")
        missing = (declared - complete) * duration
        notes.append(
            f"the file ends early: {complete} of {declared} data records are complete, the last "
            f"{missing:g} s of the recording is missing ({FIX_COPY} to get them); "
            "reading the complete records"
        )
    elif complete > declared or partial:
        # pyedflib, like the specification, trusts the header's count; MNE would read the
        # extra bytes as records of junk.
        extra = size - header_bytes - declared * record_bytes
        notes.append(
            f"the file has {extra} bytes after its {declared} data records (more than the "
            "header declares); they are ignored"
        )
    if n_records == 0:
        raise InvalidRecordingError(
            f"holds no complete data record ({size - header_bytes} data bytes, one record needs "
            f"{record_bytes}); the file is cut short, {FIX_COPY}",
            path,
        )
    for encoding, fields_read in not_ascii.items():
        shown = ", ".join(fields_read[:4]) + (" …" if len(fields_read) > 4 else "")
        notes.append(f"header text is not ASCII, which EDF requires; read as {encoding}: {shown}")
    return EdfHeader(
        path=path,
        file_format=file_format,
        patient=patient,
        recording=recording,
        start=start,
        header_bytes=header_bytes,
        record_duration=duration,
        signals=signals,
        n_records=n_records,
        non_compliant=non_compliant,
        resolved=resolved,
        notes=notes,
    )


def identity(header: EdfHeader) -> Identity:
    """Split the EDF+ patient/recording subfields (``X`` = unknown, ``_`` = space)."""

    def sub(parts: list[str], i: int) -> str:
        value = parts[i] if i < len(parts) else ""
        return "" if value == "X" else value.replace("_", " ")

    if not header.is_plus:
        return Identity(patient_id=header.patient, recording_id=header.recording)
    patient = header.patient.split()
    recording = header.recording.split()
    return Identity(
        patient_id=sub(patient, 0),
        sex=sub(patient, 1),
        birthdate=sub(patient, 2),
        patient_name=sub(patient, 3),
        recording_id=sub(recording, 2),
        technician=sub(recording, 3),
        equipment=sub(recording, 4),
    )
