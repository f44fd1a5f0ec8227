"""MNE Raw ⇄ Study: a researcher's ``mne.io.BaseRaw`` on the canonical slots, and back.

:func:`study_from_raw` maps a Raw's channels as a file's are mapped: the same labels,
referential derivations, channel map and errors (:func:`~sleepvit.io.channels.map_channels`,
:func:`~sleepvit.io.slot_signals.slot_signals`); only where the samples come from differs.
MNE holds one rate per Raw and keeps electrophysiology in volts, so EEG, EOG, EMG and ECG are
read as volts and converted to µV. Values spread wider than any body-surface potential in
volts (> 0.5 V) were never volts: a Raw built from µV arrays is read as µV, with a warning.
SpO2 is taken as held (MNE does not scale a ``%`` channel), breathing in the Raw's unit.
Channels listed in ``raw.info["bads"]`` are not used. The Raw's clock is its ``meas_date``
(the EDF start, a local clock time MNE labels UTC) plus ``raw.first_time`` after a crop.

:func:`study_to_raw` is the way back: one channel per slot, named by its label, typed
``eeg``/``eog``/``emg``/``ecg``/``resp``, SpO2 ``misc`` (%), at one rate; slots recorded
slower are resampled with the FFT, as MNE's EDF reader resamples mixed rates. The Raw
remembers each channel's slot, own rate and unit in ``info["temp"]`` (kept in memory, by
copies and crops, never saved), so ``study_from_raw(study_to_raw(study))`` gives back the
same slots, labels, rates, units, start and annotations.

>>> import mne                                                           # doctest: +SKIP
>>> raw = mne.io.read_raw_edf("night.edf", preload=True)                 # doctest: +SKIP
>>> study = study_from_raw(raw.filter(0.3, None))                        # doctest: +SKIP
>>> study.signals["EEG_C"].label, study.signals["EEG_C"].unit            # doctest: +SKIP
('C4-M1', 'uV')
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mne
import numpy as np
from mne.io.constants import FIFF
from scipy.signal import resample

from sleepvit.io.channels import SlotChoice, SourceChannel, map_channels
from sleepvit.io.slot_signals import (
    microvolts_per_unit,
    require_one_epoch,
    slot_signals,
    warning_log,
)
from sleepvit.slots import SLOT_BY_NAME, Modality
from sleepvit.study import Annotation, ChannelInfo, SlotSignal, Study

logger = logging.getLogger(__name__)

MOST_VOLTS = 0.5
"""Widest spread (median absolute deviation, V) of a body-surface potential held in volts;
amplifiers saturate below it. Wider values are µV."""
UNKNOWN_DATE = datetime(1985, 1, 1)
"""The clock of a Raw without ``meas_date``: EDF's convention for an unknown start date."""

_MNE_TYPES = {
    Modality.EEG: "eeg",
    Modality.EOG: "eog",
    Modality.EMG: "emg",
    Modality.ECG: "ecg",
    Modality.RESP: "resp",
    Modality.SPO2: "misc",
}
_REMEMBERED = "sleepvit"
"""The key of ``info["temp"]`` under which :func:`study_to_raw` remembers each slot."""
_SPREAD_SAMPLES = 1 << 20
_ENVELOPE_CHECK_S = 600.0
_ENVELOPE_BAND_SHARE = 1e-4
"""A chin EMG with less of its power (Hann-windowed, first 10 min) in its display band is an
envelope; a raw chin EMG has most of it there."""


def raw_name(raw: mne.io.BaseRaw) -> Path:
    """What errors and warnings call ``raw``: the file it was read from, else its class."""
    files = [f for f in getattr(raw, "filenames", ()) if f is not None]
    return Path(files[0]) if files else Path(f"<{type(raw).__name__}>")


def study_from_raw(
    raw: mne.io.BaseRaw, channel_map: str | Path | Mapping[str, object] | None = None
) -> Study:
    """Map the channels of ``raw`` onto the canonical slots, as :func:`load_study` maps a file's.

    ``channel_map`` overrides the automatic mapping (format in :mod:`sleepvit.io.channels`;
    channel names are the Raw's ``ch_names``). Raises :class:`ChannelMappingError` when no
    EEG is recognisable or the map is wrong, :class:`InvalidRecordingError` for a Raw shorter
    than one epoch; warnings are logged and kept in ``Study.warnings``.
    """
    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(
            f"expected an mne.io.BaseRaw (continuous recording), not {type(raw).__name__}"
        )
    path = raw_name(raw)
    collected, warn = warning_log(path.name, logger)

    sfreq = float(raw.info["sfreq"])
    bads = set(raw.info["bads"])
    remembered = _remembered(raw)
    sources = [
        SourceChannel(i, name, sfreq, _unit(ch))
        for i, (name, ch) in enumerate(zip(raw.ch_names, raw.info["chs"], strict=True))
        if name not in bads
    ]
    if channel_map is None and remembered:
        channel_map = {entry["slot"]: name for name, entry in remembered.items()}
    choices = map_channels(sources, channel_map, path)
    duration = raw.n_times / sfreq
    require_one_epoch(duration, path)
    channels = {ch.index: ch for ch in sources}
    samples = {}
    for index in sorted({i for choice in choices.values() for i in choice.indices}):
        channels[index], samples[index] = _samples(raw, channels[index], choices, remembered, warn)
    signals = slot_signals(choices, channels, samples, warn)
    signals = {slot: _as_remembered(s, choices[slot], remembered) for slot, s in signals.items()}
    if raw.info["meas_date"] is None:
        warn(
            "the Raw has no measurement date (info['meas_date']); its clock starts at "
            f"{UNKNOWN_DATE:%Y-%m-%d}, EDF's date for an unknown start"
        )
        meas_date = UNKNOWN_DATE
    else:
        meas_date = raw.info["meas_date"].replace(tzinfo=None)
    annotations = raw.annotations
    return Study(
        path=path,
        start=meas_date + timedelta(seconds=raw.first_time),
        duration_s=duration,
        signals=signals,
        channels=[
            ChannelInfo(i, name, sfreq, _unit(ch))
            for i, (name, ch) in enumerate(zip(raw.ch_names, raw.info["chs"], strict=True))
        ],
        annotations=[
            Annotation(float(onset) - raw.first_time, float(length), str(description))
            for onset, length, description in zip(
                annotations.onset, annotations.duration, annotations.description, strict=True
            )
        ],
        file_format=f"MNE {type(raw).__name__}",
        warnings=collected,
    )


def _unit(ch: dict) -> str:
    # MNE keeps every voltage in V whatever the file said; other units are not scaled.
    return "V" if ch["unit"] == FIFF.FIFF_UNIT_V else ""


def _remembered(raw: mne.io.BaseRaw) -> dict[str, dict]:
    """What :func:`study_to_raw` stored about the channels still in ``raw``."""
    temp = raw.info.get("temp")
    entries = temp.get(_REMEMBERED, {}) if isinstance(temp, dict) else {}
    present = set(raw.ch_names) - set(raw.info["bads"])
    return {name: entry for name, entry in entries.items() if name in present}


def _samples(raw, channel: SourceChannel, choices, remembered, warn):
    """One channel's float32 samples, and the channel as they are (unit, rate)."""
    data = raw.get_data(picks=[channel.index])[0]
    feeds = [choice for choice in choices.values() if channel.index in choice.indices]
    alone_in_chin = [(c.slot, len(c.indices)) for c in feeds] == [("EMG_CHIN", 1)]
    if alone_in_chin and channel.label not in remembered:
        rate = _envelope_rate(data, channel.sfreq)
        if rate is not None:
            data = resample(data, round(data.size * rate / channel.sfreq))
            channel = replace(channel, sfreq=rate)
    data = data.astype(np.float32)
    feeds = [SLOT_BY_NAME[choice.slot] for choice in feeds]
    if any(spec.is_electrophysiology for spec in feeds):
        spread = _spread(data)
        if spread > MOST_VOLTS:
            warn(
                f"channel {channel.label!r} spreads over {spread:.3g} V, which no body-surface "
                "potential does; its values are µV and are read as µV (MNE keeps volts: "
                "multiply µV data by 1e-6 before building a Raw)"
            )
            return replace(channel, unit="uV"), data
        return replace(channel, unit="V"), data
    native = remembered.get(channel.label, {}).get("unit")
    if any(spec.modality is Modality.RESP for spec in feeds) and native is not None:
        per_unit = microvolts_per_unit(native)
        if channel.unit == "V" and per_unit is not None:
            data *= np.float32(1e6 / per_unit)
        return replace(channel, unit=native), data
    return channel, data


def _envelope_rate(data: np.ndarray, sfreq: float) -> float | None:
    """The rate a chin EMG recorded as an amplitude envelope had before it was upsampled to
    ``sfreq`` (Sleep-EDF's 1-Hz EMG submental, as MNE's EDF reader gives it), or ``None``.

    An envelope carries no power in the chin EMG's display band; FFT upsampling (MNE's, for
    mixed rates) leaves none at all above the Nyquist frequency of the recorded rate, and FFT
    resampling back to that rate gives the recorded samples again.
    """
    low = SLOT_BY_NAME["EMG_CHIN"].band_hz[0]
    if sfreq <= 2 * low:
        return None
    head = data[: round(_ENVELOPE_CHECK_S * sfreq)]
    power = np.abs(np.fft.rfft((head - head.mean()) * np.hanning(head.size))) ** 2
    in_band = power[np.fft.rfftfreq(head.size, 1 / sfreq) >= low].sum()
    if not in_band <= _ENVELOPE_BAND_SHARE * power.sum():
        return None
    power = np.abs(np.fft.rfft(data - data.mean())) ** 2
    carried = np.flatnonzero(power > power.max() * 1e-12)
    if carried.size == 0:
        return None
    edge_hz = max(float(np.fft.rfftfreq(data.size, 1 / sfreq)[carried[-1]]), 1e-3)
    factor = int(sfreq // (2 * edge_hz))
    return sfreq / factor if factor > 1 else None


def _spread(data: np.ndarray) -> float:
    sample = data[:: max(1, data.size // _SPREAD_SAMPLES)]
    return float(np.median(np.abs(sample - np.median(sample))))


def _as_remembered(signal: SlotSignal, choice: SlotChoice, remembered) -> SlotSignal:
    """``signal`` at the rate and with the reason :func:`study_to_raw` remembered for it."""
    entry = remembered.get(signal.label)
    if entry is None or entry["slot"] != signal.slot or len(choice.indices) != 1:
        return signal
    own_rate = float(entry["sfreq"])
    data = signal.data
    if own_rate < signal.sfreq:  # never invent samples a filtered or resampled Raw lost
        n_samples = round(data.size * own_rate / signal.sfreq)
        data = resample(data.astype(np.float64), n_samples).astype(np.float32)
    else:
        own_rate = signal.sfreq
    return replace(signal, data=data, sfreq=own_rate, reason=entry["reason"])


def study_to_raw(study: Study, sfreq: float | None = None) -> mne.io.RawArray:
    """The mapped slots of ``study`` as an MNE Raw at ``sfreq`` (default: the fastest slot's).

    Electrophysiology and breathing recorded in a voltage are in V, as MNE keeps them; SpO2
    and breathing in other units keep their values (channel unit ``NA``). ``meas_date`` is
    the study's start labelled UTC (as MNE reads an EDF); the study's annotations come along.
    """
    signals = list(study.signals.values())
    rate = float(sfreq) if sfreq else max(s.sfreq for s in signals)
    n_times = round(study.duration_s * rate)
    names = _unique([s.label for s in signals])
    info = mne.create_info(
        names, rate, [_MNE_TYPES[SLOT_BY_NAME[s.slot].modality] for s in signals]
    )
    data = np.zeros((len(signals), n_times))
    for row, signal in enumerate(signals):
        values = signal.data.astype(np.float64)
        if signal.sfreq != rate:
            values = resample(values, round(values.size * rate / signal.sfreq))
        volts = _volts_per_unit(signal)
        if volts is None:
            info["chs"][row]["unit"] = FIFF.FIFF_UNIT_NONE
        else:
            values *= volts
        data[row, : min(n_times, values.size)] = values[:n_times]
    raw = mne.io.RawArray(data, info, verbose="error")
    start = study.start if study.start.tzinfo else study.start.replace(tzinfo=UTC)
    raw.set_meas_date(start)
    raw.set_annotations(
        mne.Annotations(
            [a.onset_s for a in study.annotations],
            [a.duration_s for a in study.annotations],
            [a.description for a in study.annotations],
            orig_time=start,
        )
    )
    raw.info["temp"] = {
        _REMEMBERED: {
            name: {"slot": s.slot, "sfreq": s.sfreq, "unit": s.unit, "reason": s.reason}
            for name, s in zip(names, signals, strict=True)
        }
    }
    return raw


def _volts_per_unit(signal: SlotSignal) -> float | None:
    """V per unit of ``signal``'s values, or ``None`` when they are not a voltage."""
    if signal.slot == "SPO2":
        return None
    per_unit = microvolts_per_unit(signal.unit)
    return None if per_unit is None else per_unit * 1e-6


def _unique(labels: list[str]) -> list[str]:
    # A channel map may put one channel into two slots; MNE needs distinct names.
    seen: set[str] = set()
    names = []
    for label in labels:
        name = label
        while name in seen:
            name += "'"
        seen.add(name)
        names.append(name)
    return names
