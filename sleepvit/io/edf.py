"""Load an EDF, EDF+ (continuous or discontinuous) or BDF recording as a :class:`Study`.

The steps, each in its own module: the raw header is validated first
(:mod:`sleepvit.io.edf_header`), so every broken file gets one precise
:class:`InvalidRecordingError` naming the file, the problem and the fix; the channels are
mapped onto the canonical slots (:mod:`sleepvit.io.channels`); then only the channels feeding
a slot are read (:mod:`sleepvit.io.edf_readers`: one pass over the data records for files
pyedflib accepts, MNE for the ones it rejects, with a warning saying what was non-compliant).
This module puts the pieces together: record timing (EDF+D records are placed at their
time-keeping onsets; gaps stay flat and are annotated), units, derivations. The file is
opened read-only.

Examples
--------
>>> study = load_study("night.edf")  # doctest: +SKIP
>>> study.signals["EEG_C"].label, study.n_epochs  # doctest: +SKIP
('C4-M1', 960)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from sleepvit.errors import ChannelMappingError, InvalidRecordingError
from sleepvit.io.channels import (
    SlotChoice,
    SourceChannel,
    choose_channels,
    load_channel_map,
    require_eeg,
)
from sleepvit.io.edf_annotations import parse_tals
from sleepvit.io.edf_header import FIX_EXPORT, EdfHeader, SignalHeader, identity, read_header
from sleepvit.io.edf_readers import open_reader
from sleepvit.slots import EPOCH_SECONDS, SLOT_BY_NAME, Modality
from sleepvit.study import Annotation, ChannelInfo, SlotSignal, Study

logger = logging.getLogger(__name__)

# Looked up lower-cased: clinical files write "UV" for µV and "MV" for mV, never megavolts.
_MICROVOLTS_PER_UNIT = {"uv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
_STANDARD_VOLT_UNITS = {"uV", "µV", "μV", "mV", "V", "nV"}
_LONGEST_GAP_S = 86400.0
_LONGEST_RECORDING_S = 14 * 86400.0
"""Longer than any ambulatory EEG: a header implying more is corrupt, not a recording."""


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
                        "header in the acquisition software or pick another channel in a "
                        "channel map",
                        header.path,
                        settings=("channel_map",),
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
        raise exc.about(path) from exc
    require_eeg(choices, sources, path)
    _check_scalable(header, choices)
    timeline = _timeline(header, warn)
    duration = float(timeline.record_onsets[-1]) + header.record_duration
    if duration > _LONGEST_RECORDING_S:
        raise InvalidRecordingError(
            f"the header makes the recording {duration / 86400:.0f} days long (data record "
            f"duration {header.record_duration:g} s); the header is corrupt, {FIX_EXPORT}",
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
    reader = open_reader(header, needed, warn)
    raw = reader.read(needed)
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
        identity=identity(header),
        annotations=sorted(timeline.annotations + gaps, key=lambda a: a.onset_s),
        file_format=f"{header.file_format} ({reader.reader_name})"
        if reader.reader_name
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
