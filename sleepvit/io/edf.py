"""Load an EDF, EDF+ (continuous or discontinuous) or BDF recording as a :class:`Study`.

The steps, each in its own module: the raw header is validated first
(:mod:`sleepvit.io.edf_header`), so every broken file gets one precise
:class:`InvalidRecordingError` naming the file, the problem and the fix; the channels are
mapped onto the canonical slots (:mod:`sleepvit.io.channels`); then only the channels feeding
a slot are read (:mod:`sleepvit.io.edf_readers`: one pass over the data records for files
pyedflib accepts, MNE for the ones it rejects, with a warning saying what was non-compliant)
and turned into slot signals (:mod:`sleepvit.io.slot_signals`: units, derivations), as an
MNE Raw's are (:mod:`sleepvit.io.mne_raw`). This module puts the pieces together: record
timing (EDF+D records are placed at their time-keeping onsets; gaps stay flat and are
annotated). The file is opened read-only.

Examples
--------
>>> study = load_study("night.edf")  # doctest: +SKIP
>>> study.signals["EEG_C"].label, study.n_epochs  # doctest: +SKIP
('C4-M1', 960)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from sleepvit.errors import InvalidRecordingError
from sleepvit.io.channels import SlotChoice, SourceChannel, map_channels
from sleepvit.io.edf_annotations import parse_tals
from sleepvit.io.edf_header import FIX_EXPORT, EdfHeader, identity, read_header
from sleepvit.io.edf_readers import open_reader
from sleepvit.io.slot_signals import require_one_epoch, slot_signals, warning_log
from sleepvit.study import Annotation, ChannelInfo, Study

logger = logging.getLogger(__name__)

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
    collected, warn = warning_log(path.name, logger)

    for note in header.notes:
        warn(note)
    sources = [
        SourceChannel(i, s.label, header.sfreq(i), s.unit)
        for i, s in enumerate(header.signals)
        if not s.is_annotation
    ]
    choices = map_channels(sources, channel_map, path)
    _check_scalable(header, choices)
    timeline = _timeline(header, warn)
    duration = float(timeline.record_onsets[-1]) + header.record_duration
    if duration > _LONGEST_RECORDING_S:
        raise InvalidRecordingError(
            f"the header makes the recording {duration / 86400:.0f} days long (data record "
            f"duration {header.record_duration:g} s); the header is corrupt, {FIX_EXPORT}",
            path,
        )
    require_one_epoch(duration, path)
    for start, length in timeline.gaps:
        warn(f"recording interrupted at {start:g} s for {length:g} s (EDF+D); gap left flat")
    needed = {i for choice in choices.values() for i in choice.indices}
    reader = open_reader(header, needed, warn)
    raw = reader.read(needed)
    signals = slot_signals(
        choices,
        {channel.index: channel for channel in sources},
        raw,
        warn,
        place=lambda index, data: _place(
            data, timeline, header.signals[index].samples_per_record, header.sfreq(index)
        ),
    )
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
