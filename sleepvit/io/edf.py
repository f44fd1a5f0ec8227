"""Load an EDF, EDF+ (continuous or discontinuous) or BDF recording as a :class:`Study`.

The raw header (256 + 256·ns bytes of ASCII) is validated here first, so every broken file
gets one precise :class:`InvalidRecordingError` naming the file, the problem and the fix,
instead of a reader's traceback. Files pyedflib accepts as compliant are then read in one
pass over the data records, scaled straight into float32; files pyedflib rejects (digital
minimum > maximum, number of records -1, cut-off data, odd date fields …) are read with
MNE, one channel at a time, with a warning saying what was non-compliant. Either way the
file is opened read-only and only channels feeding a slot are read. EDF+D records are
placed at their time-keeping onsets; gaps stay flat and are annotated.

Examples
--------
>>> study = load_study("night.edf")  # doctest: +SKIP
>>> study.signals["EEG_C"].label, study.n_epochs  # doctest: +SKIP
('C4-M1', 960)
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from sleepvit.errors import ChannelMappingError, InvalidRecordingError
from sleepvit.io.channels import (
    SlotChoice,
    SourceChannel,
    choose_channels,
    is_annotation_label,
    load_channel_map,
    require_eeg,
)
from sleepvit.io.edf_annotations import header_start, parse_tals
from sleepvit.slots import EPOCH_SECONDS, SLOT_BY_NAME, Modality
from sleepvit.study import Annotation, ChannelInfo, Identity, SlotSignal, Study

logger = logging.getLogger(__name__)

_FIX_EXPORT = "export the night again from the acquisition software as EDF+"
_FIX_COPY = "copy the file again from its source"
_DIGITAL_RANGE = {2: (-32768, 32767), 3: (-8388608, 8388607)}
# Looked up lower-cased: clinical files write "UV" for µV and "MV" for mV, never megavolts.
_MICROVOLTS_PER_UNIT = {"uv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
_STANDARD_VOLT_UNITS = {"uV", "µV", "μV", "mV", "V", "nV"}
_LONGEST_GAP_S = 86400.0
_LONGEST_RECORDING_S = 14 * 86400.0
"""Longer than any ambulatory EEG: a header implying more is corrupt, not a recording."""


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


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").strip()


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
            f"header field {what} is {text!r}, not {kind}; the header is corrupt, {_FIX_EXPORT}",
            path,
        )
    return int(value) if integer else value


def read_header(path: str | Path) -> EdfHeader:
    """Parse and validate the header of ``path``; raise :class:`InvalidRecordingError` if broken.

    >>> read_header("night.edf").file_format  # doctest: +SKIP
    'EDF+C'
    """
    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise InvalidRecordingError(f"{problem}; give the path of an EDF/BDF recording", path)
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
            raise InvalidRecordingError(f"the file is empty (0 bytes); {_FIX_COPY}", path)
        if head[:8] == b"\xffBIOSEMI":
            base = "BDF"
        elif _text(head[:8]) == "0" and len(head) >= 8:
            base = "EDF"
        else:
            raise InvalidRecordingError(
                f"not an EDF/EDF+/BDF recording (it looks like {_foreign_kind(head)}); "
                f"{_FIX_EXPORT} and open that file",
                path,
            )
        if len(head) < 256:
            raise InvalidRecordingError(
                f"header is cut short: the file has {size} bytes, an EDF header needs at least "
                f"256; {_FIX_COPY}",
                path,
            )
        ns = _field_number(head[252:256], "'number of signals'", path)
        header_bytes = _field_number(head[184:192], "'number of bytes in header'", path)
        if ns < 1 or header_bytes != 256 * (ns + 1):
            raise InvalidRecordingError(
                f"header says {ns} signals but {header_bytes} header bytes (expected "
                f"{256 * (ns + 1)} = 256 × (signals + 1)); the number of signals is corrupt, "
                f"{_FIX_EXPORT}",
                path,
            )
        if size < header_bytes:
            raise InvalidRecordingError(
                f"header is cut short: {size} of {header_bytes} header bytes present; {_FIX_COPY}",
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
    reserved = _text(head[192:236])
    kind = reserved[:5] if reserved[:5] in ("EDF+C", "EDF+D", "BDF+C", "BDF+D") else ""
    file_format = (base + kind[3:]) if kind else base
    patient, recording = _text(head[8:88]), _text(head[88:168])
    start = header_start(head)
    if start is None:
        notes.append(
            f"start date/time {_text(head[168:176])!r} {_text(head[176:184])!r} is not "
            "dd.mm.yy hh.mm.ss; times are shown relative to 01.01.1985 00:00:00"
        )
        non_compliant.append("start date/time")
        start = datetime(1985, 1, 1)
    declared = _field_number(head[236:244], "'number of data records'", path)
    duration = _field_number(head[244:252], "'duration of a data record'", path, integer=False)
    if declared < -1:
        raise InvalidRecordingError(
            f"header field 'number of data records' is {declared}; the header is corrupt, "
            f"{_FIX_EXPORT}",
            path,
        )
    if duration <= 0:
        raise InvalidRecordingError(
            f"header field 'duration of a data record' is {duration:g} s; it must be positive, "
            f"{_FIX_EXPORT}",
            path,
        )
    fields = _split_fields(block, ns)
    signals = []
    for i in range(ns):

        def number(name: str, integer: bool = False, i: int = i) -> float:
            what = f"'{name}' of signal {i + 1} ({_text(fields['label'][i])})"
            return _field_number(fields[name][i], what, path, integer)

        signal = SignalHeader(
            label=_text(fields["label"][i]),
            transducer=_text(fields["transducer"][i]),
            unit=_text(fields["unit"][i]),
            physical_min=number("physical minimum"),
            physical_max=number("physical maximum"),
            digital_min=number("digital minimum", integer=True),
            digital_max=number("digital maximum", integer=True),
            prefilter=_text(fields["prefiltering"][i]),
            samples_per_record=number("samples per record", integer=True),
            label_bytes=fields["label"][i],
        )
        if signal.samples_per_record < 1:
            raise InvalidRecordingError(
                f"signal {i + 1} ({signal.label}) has {signal.samples_per_record} samples per "
                f"record; it must be at least 1, {_FIX_EXPORT}",
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
            f"{missing:g} s of the recording is missing ({_FIX_COPY} to get them); "
            "reading the complete records"
        )
    elif complete > declared or partial:
        non_compliant.append("file size does not match the header")
    if n_records == 0:
        raise InvalidRecordingError(
            f"holds no complete data record ({size - header_bytes} data bytes, one record needs "
            f"{record_bytes}); the file is cut short, {_FIX_COPY}",
            path,
        )
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
        notes=notes,
    )


def _identity(header: EdfHeader) -> Identity:
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


def _annotation_bytes(header: EdfHeader) -> list[bytes]:
    """Bytes of every annotation signal, per record, read a few MB at a time."""
    offsets = np.cumsum([0] + [s.samples_per_record for s in header.signals])
    spans = [
        (offsets[i] * header.bytes_per_sample, offsets[i + 1] * header.bytes_per_sample)
        for i, s in enumerate(header.signals)
        if s.is_annotation
    ]
    per_chunk = max(1, (8 << 20) // header.record_bytes)
    records: list[bytes] = []
    with open(header.path, "rb") as f:
        f.seek(header.header_bytes)
        for first in range(0, header.n_records, per_chunk):
            count = min(per_chunk, header.n_records - first)
            chunk = np.frombuffer(f.read(count * header.record_bytes), dtype=np.uint8)
            rows = chunk.reshape(count, header.record_bytes)
            flat = np.concatenate([rows[:, a:b] for a, b in spans], axis=1).tobytes()
            width = len(flat) // count
            records.extend(flat[k * width : (k + 1) * width] for k in range(count))
    return records


@dataclass
class _Timeline:
    """Where each record starts, in seconds after the first record (EDF+D may have gaps)."""

    first_onset: float
    """When the first record starts after the header's start time (EDF+ sub-second part)."""
    record_onsets: np.ndarray
    annotations: list[Annotation]
    gaps: list[tuple[float, float]]

    @property
    def continuous(self) -> bool:
        return not self.gaps


def _timeline(header: EdfHeader, warn) -> _Timeline:
    regular = np.arange(header.n_records) * header.record_duration
    if not any(s.is_annotation for s in header.signals):
        return _Timeline(0.0, regular, [], [])
    onsets, annotations = [], []
    for record in _annotation_bytes(header):
        # A PSG stays readable when its annotations are damaged: malformed TALs are skipped.
        onset, found, _ = parse_tals(record)
        onsets.append(onset)
        annotations.extend(found)
    record_onsets = regular + (onsets[0] or 0.0)
    if header.file_format.endswith("+D") and None not in onsets:
        stated = np.asarray(onsets, dtype=float)
        overlapping = np.diff(stated) < header.record_duration - 1e-6
        gap_total = stated[-1] - stated[0] - (header.n_records - 1) * header.record_duration
        if overlapping.any():
            bad = int(np.argmax(overlapping)) + 2
            warn(
                f"EDF+D record {bad} starts before record {bad - 1} ends; its time-keeping "
                "annotation is corrupt, so the records are read back to back"
            )
        elif gap_total > _LONGEST_GAP_S:
            warn(
                f"EDF+D time-keeping annotations add {gap_total / 3600:.0f} h of gaps; they are "
                "implausible for one night, so the records are read back to back"
            )
        else:
            record_onsets = stated
    first = record_onsets[0]
    record_onsets = record_onsets - first
    annotations = [Annotation(a.onset_s - first, a.duration_s, a.description) for a in annotations]
    ends = record_onsets[:-1] + header.record_duration
    gaps = [
        (float(end), float(nxt - end))
        for end, nxt in zip(ends, record_onsets[1:], strict=True)
        if nxt - end > 1e-6
    ]
    if not abs(first) < _LONGEST_RECORDING_S:
        warn(f"the first record claims to start {first:g} s after the header's start; ignored")
        first = 0.0
    return _Timeline(float(first), record_onsets, annotations, gaps)


class _BlockSource:
    """Compliant files: pyedflib vets the header, then one pass copies the needed channels.

    pyedflib's ``readSignal`` seeks once per record and channel (≈ 4 s for a 16-channel
    8-h night); reading a few MB of whole records at a time and scaling straight into the
    float32 outputs takes a fraction of that and never holds a float64 copy.
    """

    reader_name = ""
    """Nothing appended to ``Study.file_format``: this is the normal path."""

    def __init__(self, header: EdfHeader):
        import pyedflib

        # Opening is pyedflib's full compliance check; OSError says what is wrong.
        pyedflib.EdfReader(str(header.path), pyedflib.DO_NOT_READ_ANNOTATIONS).close()
        self._header = header

    def read(self, indices: set[int]) -> dict[int, np.ndarray]:
        header = self._header
        width = header.bytes_per_sample
        offsets = np.cumsum([0] + [s.samples_per_record for s in header.signals])
        out = {
            i: np.empty(header.n_records * header.signals[i].samples_per_record, np.float32)
            for i in indices
        }
        per_chunk = max(1, (8 << 20) // header.record_bytes)
        buffer = bytearray(per_chunk * header.record_bytes)
        with open(header.path, "rb") as f:
            f.seek(header.header_bytes)
            for first in range(0, header.n_records, per_chunk):
                count = min(per_chunk, header.n_records - first)
                f.readinto(memoryview(buffer)[: count * header.record_bytes])
                raw = np.frombuffer(buffer, np.uint8, count * header.record_bytes)
                block = raw.view("<i2") if width == 2 else raw
                block = block.reshape(count, -1)
                for i in indices:
                    signal = header.signals[i]
                    spr = signal.samples_per_record
                    target = out[i][first * spr : (first + count) * spr].reshape(count, spr)
                    if width == 2:
                        samples = block[:, offsets[i] : offsets[i] + spr]
                    else:
                        samples = _bdf_samples(block[:, 3 * offsets[i] : 3 * (offsets[i] + spr)])
                    np.multiply(samples, np.float32(signal.gain), out=target)
                    target += np.float32(signal.offset)
        return out


def _bdf_samples(column: np.ndarray) -> np.ndarray:
    """24-bit little-endian two's complement (BDF) → int32."""
    triplets = column.reshape(column.shape[0], -1, 3).astype(np.int32)
    value = triplets[..., 0] | (triplets[..., 1] << 8) | (triplets[..., 2] << 16)
    return np.where(value >= 1 << 23, value - (1 << 24), value)


# MNE returns volts for these unit spellings and the file's physical values otherwise.
_MNE_VOLT_SCALE = {"uV": 1e-6, "µV": 1e-6, "μV": 1e-6, "\x83\xcaV": 1e-6, "mV": 1e-3}


class _MneSource:
    """MNE's lenient reader; channels of one rate per ``Raw`` so MNE never resamples them.

    MNE selects channels by name only, so which of its channels is which signal is worked
    out from the names MNE itself gives the label fields, and checked against what it read:
    a damaged label must never make it hand back another signal's data.
    """

    reader_name = "mne fallback"

    def __init__(self, header: EdfHeader, indices: set[int], why: str):
        import mne

        self._header = header
        self._why = why
        read = mne.io.read_raw_bdf if header.file_format.startswith("BDF") else mne.io.read_raw_edf
        # MNE strips only ASCII whitespace (bytes.strip); ``label`` also drops e.g. \x1c.
        names = [s.label_bytes.strip().decode("latin-1") for s in header.signals]
        self._where: dict[int, tuple[object, int]] = {}
        by_rate: dict[int, list[int]] = {}
        for index in sorted(indices):
            by_rate.setdefault(header.signals[index].samples_per_record, []).append(index)
        for rate, group in by_rate.items():
            wanted = sorted({names[i] for i in group})
            # MNE takes every signal bearing a wanted name, in file order, and resamples them
            # all to the fastest one's rate: a faster namesake would distort the wanted signal.
            included = [j for j, name in enumerate(names) if name in wanted]
            clash = next((j for j in included if header.signals[j].samples_per_record > rate), -1)
            if clash >= 0:
                twin = next(i for i in group if names[i] == names[clash])
                raise InvalidRecordingError(
                    f"cannot be read: it is not EDF-compliant ({why}) and signals {twin + 1} and "
                    f"{clash + 1} are both labelled {names[clash]!r} at different sampling rates, "
                    f"which MNE cannot tell apart; give one another label and "
                    f"{_FIX_EXPORT}",
                    header.path,
                )
            with self._mne_errors("opening it"):
                raw = read(header.path, include=wanted, preload=False, verbose="error")
            if len(raw.ch_names) != len(included):
                labels = ", ".join(repr(names[j]) for j in included)
                raise InvalidRecordingError(
                    f"cannot be read: it is not EDF-compliant ({why}) and MNE found "
                    f"{len(raw.ch_names)} of the {len(included)} channels labelled {labels}; "
                    f"the labels are corrupt, {_FIX_EXPORT}",
                    header.path,
                )
            for index in group:
                self._where[index] = (raw, included.index(index))

    @contextmanager
    def _mne_errors(self, doing: str):
        """Silence MNE's warnings; make any exception it raises on a broken file one line."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except Exception as exc:  # MNE has no error hierarchy of its own to catch narrowly
            raise InvalidRecordingError(
                f"cannot be read: it is not EDF-compliant ({self._why}) and MNE failed too "
                f"while {doing} ({type(exc).__name__}: {exc}); {_FIX_EXPORT}",
                self._header.path,
            ) from exc

    def read(self, indices: set[int]) -> dict[int, np.ndarray]:
        out = {}
        for index in sorted(indices):
            raw, position = self._where[index]
            signal = self._header.signals[index]
            n = self._header.n_records * signal.samples_per_record
            with self._mne_errors(f"reading signal {index + 1} ({signal.label})"):
                data = raw.get_data(picks=[position], stop=n)[0]
            data /= _MNE_VOLT_SCALE.get(signal.unit, 1.0)
            out[index] = data.astype(np.float32)
        return out


def _open_source(header: EdfHeader, indices: set[int], warn) -> _BlockSource | _MneSource:
    why = "; ".join(dict.fromkeys(header.non_compliant))
    if not why:
        try:
            return _BlockSource(header)
        except OSError as exc:
            why = str(exc).split(":", 1)[-1].strip()
    warn(f"the file is not EDF-compliant ({why}); pyedflib refuses it, reading it with MNE")
    return _MneSource(header, indices, why)


def _to_slot_units(signal: SignalHeader, slot: str, data: np.ndarray, warn) -> np.ndarray:
    spec = SLOT_BY_NAME[slot]
    if not spec.is_electrophysiology:
        return data
    unit = signal.unit.replace("µ", "u").replace("μ", "u").lower()
    factor = _MICROVOLTS_PER_UNIT.get(unit)
    if factor is None:
        warn(f"channel {signal.label!r} has unit {signal.unit!r}, not a voltage; read as µV")
        factor = 1.0
    elif signal.unit not in _STANDARD_VOLT_UNITS:
        shown = {"uv": "µV", "mv": "mV", "v": "V", "nv": "nV"}[unit]
        warn(f"channel {signal.label!r} has non-standard unit {signal.unit!r}; read as {shown}")
    # A new array: the raw one may still be needed by another derivation.
    return data * np.float32(factor) if factor != 1.0 else data


def _place(data: np.ndarray, timeline: _Timeline, samples_per_record: int, sfreq: float):
    """Put EDF+D records at their onsets; gaps stay zero (flat rows, annotated as gaps)."""
    if timeline.continuous:
        return data
    total = round((timeline.record_onsets[-1] + samples_per_record / sfreq) * sfreq)
    placed = np.zeros(total, dtype=np.float32)
    starts = np.round(timeline.record_onsets * sfreq).astype(np.int64)
    for record, start in enumerate(starts):
        chunk = data[record * samples_per_record : (record + 1) * samples_per_record]
        placed[start : start + samples_per_record] = chunk
    return placed


def _check_scalable(header: EdfHeader, choices: Mapping[str, SlotChoice]) -> None:
    for slot, choice in choices.items():
        for index in choice.indices:
            s = header.signals[index]
            for kind, low, high in (
                ("physical", s.physical_min, s.physical_max),
                ("digital", s.digital_min, s.digital_max),
            ):
                if low == high:
                    raise InvalidRecordingError(
                        f"signal {index + 1} ({s.label}, chosen for {slot}) has {kind} minimum = "
                        f"{kind} maximum = {low:g}, so its values cannot be scaled; fix the "
                        "header in the acquisition software or pick another channel with "
                        "--channel-map",
                        header.path,
                    )


def load_study(
    path: str | Path, channel_map: str | Path | Mapping[str, object] | None = None
) -> Study:
    """Read a recording and map its channels onto the canonical slots.

    ``channel_map`` overrides the automatic mapping: a mapping, JSON text or a JSON file path
    (format in :mod:`sleepvit.io.channels`). Raises :class:`InvalidRecordingError` for a
    broken file and :class:`ChannelMappingError` when no EEG is recognisable or the map is
    wrong. Warnings (non-compliant header, missing data, odd units) are logged and kept in
    ``Study.warnings``.

    >>> study = load_study("night.edf", channel_map={"EOG_R": None})  # doctest: +SKIP
    >>> sorted(study.signals)[:2], study.signals["EEG_C"].reason  # doctest: +SKIP
    (['ECG', 'EEG_C'], 'alias match, preferred over C3-M2')
    """
    path = Path(path)
    header = read_header(path)
    collected: list[str] = []

    def warn(message: str) -> None:
        text = f"{path.name}: {message}"
        if text not in collected:
            collected.append(text)
            logger.warning(text)

    for note in header.notes:
        warn(note)
    sources = [
        SourceChannel(i, s.label, header.sfreq(i))
        for i, s in enumerate(header.signals)
        if not s.is_annotation
    ]
    try:
        choices = choose_channels(sources, load_channel_map(channel_map))
    except ChannelMappingError as exc:
        raise ChannelMappingError(str(exc), path) from exc
    require_eeg(choices, sources, path)
    _check_scalable(header, choices)
    timeline = _timeline(header, warn)
    duration = float(timeline.record_onsets[-1]) + header.record_duration
    if duration > _LONGEST_RECORDING_S:
        raise InvalidRecordingError(
            f"the header makes the recording {duration / 86400:.0f} days long (data record "
            f"duration {header.record_duration:g} s); the header is corrupt, {_FIX_EXPORT}",
            path,
        )
    if duration < EPOCH_SECONDS:
        raise InvalidRecordingError(
            f"the recording lasts {duration:g} s, shorter than one {EPOCH_SECONDS:g}-s epoch; "
            "choose the full-night recording",
            path,
        )
    for start, length in timeline.gaps:
        warn(f"recording interrupted at {start:g} s for {length:g} s (EDF+D); gap left flat")
    needed = {i for choice in choices.values() for i in choice.indices}
    source = _open_source(header, needed, warn)
    raw = source.read(needed)
    signals = _read_slots(header, choices, raw, timeline, warn)
    gaps = [Annotation(start, length, "recording gap (no data)") for start, length in timeline.gaps]
    return Study(
        path=path,
        start=header.start + timedelta(seconds=timeline.first_onset),
        duration_s=duration,
        signals=signals,
        channels=[
            ChannelInfo(i, s.label, header.sfreq(i), s.unit, s.transducer, s.prefilter)
            for i, s in enumerate(header.signals)
            if not s.is_annotation
        ],
        identity=_identity(header),
        annotations=sorted(timeline.annotations + gaps, key=lambda a: a.onset_s),
        file_format=f"{header.file_format} ({source.reader_name})"
        if source.reader_name
        else header.file_format,
        warnings=collected,
    )


def _read_slots(header, choices, raw: dict[int, np.ndarray], timeline, warn):
    """Slot signals from the raw channels; each raw channel is released after its last use."""
    remaining = Counter(i for choice in choices.values() for i in choice.indices)
    signals: dict[str, SlotSignal] = {}
    for slot, choice in choices.items():
        parts = []
        for index in choice.indices:
            remaining[index] -= 1
            data = raw[index] if remaining[index] else raw.pop(index)
            parts.append(_to_slot_units(header.signals[index], slot, data, warn))
        data = parts[0] if len(parts) == 1 else parts[0] - parts[1]
        del parts
        first = header.signals[choice.indices[0]]
        sfreq = header.sfreq(choice.indices[0])
        spec = SLOT_BY_NAME[slot]
        unit = "%" if spec.modality is Modality.SPO2 else spec.unit
        signals[slot] = SlotSignal(
            slot=slot,
            data=_place(data, timeline, first.samples_per_record, sfreq),
            sfreq=sfreq,
            label=choice.label,
            unit=first.unit if unit == "native" else unit,
            reason=choice.reason,
        )
    return signals
