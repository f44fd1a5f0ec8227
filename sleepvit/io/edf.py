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
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from sleepvit.errors import InvalidRecordingError
from sleepvit.io.channels import SlotChoice, SourceChannel, map_channels, unique_names
from sleepvit.io.edf_annotations import parse_tals
from sleepvit.io.edf_header import FIX_EXPORT, EdfHeader, identity, read_header
from sleepvit.io.edf_readers import open_reader
from sleepvit.io.quality import (
    MAJORITY,
    Problem,
    SignalQuality,
    combined,
    epoch_problems,
    with_gaps,
)
from sleepvit.io.slot_signals import (
    microvolts_per_unit,
    require_one_epoch,
    slot_signals,
    to_slot_units,
    warning_log,
)
from sleepvit.slots import EPOCH_SECONDS, SLOT_BY_NAME, SLOT_NAMES
from sleepvit.study import Annotation, ChannelInfo, DigitalRange, SlotSignal, Study

logger = logging.getLogger(__name__)

GAP_ANNOTATION = "recording gap (no data)"
"""Annotation marking each interruption of an EDF+D recording."""
_LOWEST_DIGITAL = {2: -32768, 3: -8388608}
"""The format's lowest integer by bytes per sample (EDF, BDF): recorders write it for lost
samples."""
_LONGEST_GAP_S = 86400.0
_LONGEST_RECORDING_S = 14 * 86400.0
"""Longer than any ambulatory EEG: a header implying more is corrupt, not a recording."""


def _annotation_bytes(header: EdfHeader) -> list[bytes]:
    """Bytes of every annotation signal, per record.

    Mapped, not read: only the pages that hold annotation bytes are touched (on an 8-h night
    they are a few hundred bytes of each 8-kB record)."""
    offsets = np.cumsum([0] + [s.samples_per_record for s in header.signals])
    spans = [
        (offsets[i] * header.bytes_per_sample, offsets[i + 1] * header.bytes_per_sample)
        for i, s in enumerate(header.signals)
        if s.is_annotation
    ]
    records = np.memmap(
        header.path,
        dtype=np.uint8,
        mode="r",
        offset=header.header_bytes,
        shape=(header.n_records, header.record_bytes),
    )
    try:
        columns = np.concatenate([records[:, a:b] for a, b in spans], axis=1)
    finally:
        del records  # closes the map (Windows keeps a mapped file locked)
    return [row.tobytes() for row in columns]


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


def _unscalable(header: EdfHeader, choice: SlotChoice) -> str:
    """Why ``choice``'s values cannot be scaled (physical or digital minimum = maximum), or ""."""
    for index in choice.indices:
        s = header.signals[index]
        for kind, low, high in (
            ("physical", s.physical_min, s.physical_max),
            ("digital", s.digital_min, s.digital_max),
        ):
            if low == high:
                return (
                    f"signal {index + 1} ({s.label}, chosen for {choice.slot}) has {kind} "
                    f"minimum = {kind} maximum = {low:g}, so its values cannot be scaled"
                )
    return ""


def _check_scalable(header: EdfHeader, choices: Mapping[str, SlotChoice]) -> None:
    for choice in choices.values():
        problem = _unscalable(header, choice)
        if problem:
            raise InvalidRecordingError(
                f"{problem}; fix the header in the acquisition software or pick another "
                "channel in a channel map",
                header.path,
                settings=("channel_map",),
            )


def _annotations_only(path: Path) -> InvalidRecordingError:
    """The error for a scoring file given where a recording was expected."""
    from sleepvit.io.hypnograms import find_hypnogram

    own = [
        p
        for p in sorted(path.parent.glob("*"))
        if p.suffix.lower() in (".edf", ".bdf")
        and p != path
        # A recording's scoring starts with its stem (or, in Sleep-EDF, its first 7 letters).
        and path.name.lower().startswith((p.stem.lower(), p.name[:7].lower()))
        and find_hypnogram(p) == path
    ]
    recording = f"pass {own[0].name}" if own else "pass the PSG recording it belongs to"
    return InvalidRecordingError(
        f"contains only annotations (a scoring, not a recording); {recording} instead, and "
        "keep this file next to it as its scoring",
        path,
    )


def load_study(
    path: str | Path, channel_map: str | Path | Mapping[str, object] | None = None
) -> Study:
    """Read a recording and map its channels onto the canonical slots.

    ``channel_map`` overrides the automatic mapping: a mapping, JSON text or a JSON file path
    (format in :mod:`sleepvit.io.channels`). Raises :class:`InvalidRecordingError` for a
    broken file and :class:`ChannelMappingError` when no EEG is recognisable or the map is
    wrong. Warnings (non-compliant header, missing data, odd units, duplicate labels) are
    logged and kept in ``Study.warnings``; the quality of every slot of every epoch is
    checked (:mod:`sleepvit.io.quality`) and kept in ``Study.quality``. Among channels that
    are the same derivation (e.g. two signals labelled ``C4-M1``) the better signal feeds
    the slot, and a channel unreadable for most of the night gives way to the next candidate
    that is readable.

    >>> study = load_study("night.edf", channel_map={"EOG_R": None})  # doctest: +SKIP
    >>> sorted(study.signals)[:2], study.signals["EEG_C"].reason  # doctest: +SKIP
    (['ECG', 'EEG_C'], 'alias match, preferred over C3-M2')
    """
    path = Path(path)
    header = read_header(path)
    collected, warn = warning_log(path.name, logger)

    for note in header.notes:
        warn(note)
    sources = unique_names(
        [
            SourceChannel(i, s.label, header.sfreq(i), s.unit)
            for i, s in enumerate(header.signals)
            if not s.is_annotation
        ]
    )
    if not sources:
        raise _annotations_only(path)
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
        warn(f"recording interrupted at {start:g} s for {length:g} s (EDF+D); no data there")
    slots = _SlotReader(header, sources, timeline, int(duration // EPOCH_SECONDS), warn)
    signals, problems = slots.read(choices)
    for slot, choice in choices.items():
        signals[slot], problems[slot] = slots.best_of(choice, signals[slot], problems[slot])
    quality = SignalQuality(
        np.stack([problems.get(slot, slots.readable) for slot in SLOT_NAMES], axis=1),
        {slot: signal.label for slot, signal in signals.items()},
        {slot: signal.sfreq for slot, signal in signals.items()},
    )
    return Study(
        path=path,
        start=header.start + timedelta(seconds=timeline.first_onset),
        duration_s=duration,
        signals={slot: signals[slot] for slot in SLOT_NAMES if slot in signals},
        channels=[
            ChannelInfo(ch.index, ch.name, ch.sfreq, s.unit, s.transducer, s.prefilter)
            for ch in sources
            for s in (header.signals[ch.index],)
        ],
        identity=identity(header),
        annotations=sorted(
            timeline.annotations
            + [Annotation(start, length, GAP_ANNOTATION) for start, length in timeline.gaps],
            key=lambda a: a.onset_s,
        ),
        file_format=f"{header.file_format} ({slots.reader_name})"
        if slots.reader_name
        else header.file_format,
        warnings=collected,
        gaps=list(timeline.gaps),
        quality=with_gaps(quality, timeline.gaps),
    )


class _SlotReader:
    """Reads the channels of slot choices into slot signals and checks their quality."""

    def __init__(self, header: EdfHeader, sources, timeline: _Timeline, n_epochs: int, warn):
        self.header = header
        self.channels = {channel.index: channel for channel in sources}
        self.timeline = timeline
        self.n_epochs = n_epochs
        self.warn = warn
        self.reader_name = ""
        self.readable = np.zeros(n_epochs, np.uint8)
        starts = np.arange(n_epochs) * EPOCH_SECONDS
        in_gap = np.zeros(n_epochs)
        for onset, length in timeline.gaps:
            ends = np.minimum(starts + EPOCH_SECONDS, onset + length)
            in_gap += np.clip(ends - np.maximum(starts, onset), 0, None)
        self._recorded = in_gap < EPOCH_SECONDS / 2
        """Epochs mostly with data: the ones that tell two channels apart."""

    def read(self, choices: Mapping[str, SlotChoice]):
        """Slot signals and per-epoch problems of ``choices``; raw channels freed after use."""
        needed = {i for choice in choices.values() for i in choice.indices}
        reader = open_reader(self.header, needed, self.warn)
        self.reader_name = self.reader_name or reader.reader_name
        raw = reader.read(needed)
        remaining = Counter(i for choice in choices.values() for i in choice.indices)
        signals, problems = {}, {}
        for slot, choice in choices.items():
            samples = {}
            for index in choice.indices:
                remaining[index] -= 1
                samples[index] = raw[index] if remaining[index] else raw.pop(index)
            signals[slot], problems[slot] = self._slot_signal(choice, samples)
            del samples
        return signals, problems

    def _place(self, index: int, data: np.ndarray) -> np.ndarray:
        signal = self.header.signals[index]
        return _place(data, self.timeline, signal.samples_per_record, self.header.sfreq(index))

    def _slot_signal(self, choice: SlotChoice, samples: dict[int, np.ndarray]):
        """The slot signal of ``choice`` and its problems per epoch; ``samples`` is emptied."""
        slot = choice.slot
        inputs = []
        if len(choice.indices) > 1:  # a dead electrode leaves the other one, inverted, alive
            inputs = [self._input(slot, i, samples[i]) for i in choice.indices]
        signal = slot_signals({slot: choice}, self.channels, samples, self.warn, self._place)[slot]
        if not inputs:
            signal = replace(signal, digital=self._digital(slot, choice.indices[0]))
        problems = epoch_problems(signal, self.n_epochs)
        for part in inputs:
            problems = combined(problems, epoch_problems(part, self.n_epochs, check_mains=False))
        return signal, problems

    def _digital(self, slot: str, index: int) -> DigitalRange:
        """How channel ``index`` was stored, in the units of ``slot``."""
        signal = self.header.signals[index]
        factor = 1.0
        if SLOT_BY_NAME[slot].is_electrophysiology:
            factor = microvolts_per_unit(signal.unit) or 1.0
        return DigitalRange(
            signal.gain * factor,
            signal.offset * factor,
            signal.digital_min,
            signal.digital_max,
            _LOWEST_DIGITAL[self.header.bytes_per_sample],
        )

    def _input(self, slot: str, index: int, data: np.ndarray) -> SlotSignal:
        """One electrode of a derivation, as a signal of ``slot`` of its own."""
        channel = self.channels[index]
        data = self._place(index, to_slot_units(channel, slot, data, self.warn))
        return SlotSignal(
            slot, data, channel.sfreq, channel.name, "", digital=self._digital(slot, index)
        )

    def share_readable(self, problems: np.ndarray) -> float:
        """Share of the recorded epochs in which a slot's problems leave it readable."""
        recorded = problems[self._recorded]
        return float(np.mean(recorded == Problem.NONE)) if recorded.size else 1.0

    def best_of(self, choice: SlotChoice, signal: SlotSignal, problems: np.ndarray):
        """The most readable of ``choice`` and its equivalents; if even that is unreadable in
        most epochs, the first other candidate that is readable (or the most readable)."""
        equivalents = choice.alternatives[: choice.equivalents]
        others = choice.alternatives[choice.equivalents :]
        best = (self.share_readable(problems), choice, signal, problems)
        for alt in equivalents if best[0] < 1 else ():
            option = self._option(alt)
            best = option if option[0] > best[0] else best
        for alt in others if best[0] < MAJORITY else ():
            option = self._option(alt)
            best = option if option[0] > best[0] else best
            if option[0] >= MAJORITY:
                break
        _, chosen, chosen_signal, chosen_problems = best
        why = _problem_summary(problems, self.n_epochs)
        if chosen is not choice:
            self.warn(f"{choice.slot}: using {chosen.label} instead of {choice.label} ({why})")
            reason = f"{chosen.reason}; {choice.label} left out ({why})"
            return replace(chosen_signal, reason=reason), chosen_problems
        if equivalents:
            names = ", ".join(alt.label for alt in equivalents)
            self.warn(
                f"{choice.slot}: {choice.label} and {names} are the same derivation; using "
                f"{choice.label}, the most readable ({why}); a channel map can name another"
            )
        return signal, problems

    def _option(self, choice: SlotChoice):
        """``(share readable, choice, signal, problems)`` of an alternative (0 if unscalable)."""
        if _unscalable(self.header, choice):
            return (0.0, choice, None, None)
        samples = {i: self._read_one(i) for i in choice.indices}
        signal, problems = self._slot_signal(choice, samples)
        return (self.share_readable(problems), choice, signal, problems)

    def _read_one(self, index: int) -> np.ndarray:
        reader = open_reader(self.header, {index}, self.warn)
        return reader.read({index})[index]


def _problem_summary(problems: np.ndarray, n_epochs: int) -> str:
    """``flat in 120 of 120 epochs`` for the commonest problem of one slot."""
    codes = problems[problems > Problem.NO_DATA]
    if not codes.size:
        return "readable"
    code = np.bincount(codes).argmax()
    count = int(np.count_nonzero(problems == code))
    return f"{Problem(code).text} in {count} of {n_epochs} epochs"
