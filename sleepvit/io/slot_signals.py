"""Chosen channels → slot signals: units, derivations, one :class:`SlotSignal` per slot.

Whatever holds a recording (an EDF file, :mod:`sleepvit.io.edf`; an MNE Raw,
:mod:`sleepvit.io.mne_raw`), its channels are described as
:class:`~sleepvit.io.channels.SourceChannel`, mapped by
:func:`~sleepvit.io.channels.map_channels`, and their samples become slot signals here:
electrophysiology in µV, SpO2 in %, breathing in the recording's own unit, a derivation as
``first - second``.

>>> chans = {0: SourceChannel(0, "C4", 256, "mV"), 1: SourceChannel(1, "M1", 256, "mV")}
>>> choice = SlotChoice("EEG_C", (0, 1), "C4 - M1 (derived)", "derived from C4 − M1")
>>> samples = {0: np.full(4, 0.05, np.float32), 1: np.full(4, 0.01, np.float32)}
>>> signal = slot_signals({"EEG_C": choice}, chans, samples, warn=print)["EEG_C"]
>>> signal.unit, [round(float(v), 3) for v in signal.data[:2]]
('uV', [40.0, 40.0])
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from sleepvit.errors import InvalidRecordingError
from sleepvit.io.channels import SlotChoice, SourceChannel
from sleepvit.slots import EPOCH_SECONDS, SLOT_BY_NAME, Modality
from sleepvit.study import SlotSignal

# Looked up lower-cased: clinical files write "UV" for µV and "MV" for mV, never megavolts.
_MICROVOLTS_PER_UNIT = {"uv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
_STANDARD_VOLT_UNITS = {"uV", "µV", "μV", "mV", "V", "nV"}


def microvolts_per_unit(unit: str) -> float | None:
    """µV in one ``unit`` (``"mV"`` → 1000), or ``None`` if ``unit`` is not a voltage.

    >>> microvolts_per_unit("UV"), microvolts_per_unit("V"), microvolts_per_unit("%")
    (1.0, 1000000.0, None)
    """
    return _MICROVOLTS_PER_UNIT.get(unit.replace("µ", "u").replace("μ", "u").lower())


def to_slot_units(channel: SourceChannel, slot: str, data: np.ndarray, warn) -> np.ndarray:
    """``data`` of ``channel`` in the unit of ``slot`` (µV for electrophysiology)."""
    spec = SLOT_BY_NAME[slot]
    if not spec.is_electrophysiology:
        return data
    factor = microvolts_per_unit(channel.unit)
    if factor is None:
        warn(f"channel {channel.label!r} has unit {channel.unit!r}, not a voltage; read as µV")
        factor = 1.0
    elif channel.unit not in _STANDARD_VOLT_UNITS:
        shown = {1.0: "µV", 1e3: "mV", 1e6: "V", 1e-3: "nV"}[factor]
        warn(f"channel {channel.label!r} has non-standard unit {channel.unit!r}; read as {shown}")
    # A new array: the raw one may still be needed by another derivation.
    return data * np.float32(factor) if factor != 1.0 else data


def slot_signals(
    choices: Mapping[str, SlotChoice],
    channels: Mapping[int, SourceChannel],
    samples: dict[int, np.ndarray],
    warn: Callable[[str], None],
    place: Callable[[int, np.ndarray], np.ndarray] | None = None,
) -> dict[str, SlotSignal]:
    """The signal of every chosen slot from the ``samples`` of each channel index.

    Each channel's samples are released (popped from ``samples``) after their last use.
    ``place(index, data)`` puts a slot's samples on the recording's time line (EDF+D
    records at their onsets); by default they are already there.
    """
    remaining = Counter(i for choice in choices.values() for i in choice.indices)
    signals: dict[str, SlotSignal] = {}
    for slot, choice in choices.items():
        parts = []
        for index in choice.indices:
            remaining[index] -= 1
            data = samples[index] if remaining[index] else samples.pop(index)
            parts.append(to_slot_units(channels[index], slot, data, warn))
        data = parts[0] if len(parts) == 1 else parts[0] - parts[1]
        del parts
        first = channels[choice.indices[0]]
        spec = SLOT_BY_NAME[slot]
        unit = "%" if spec.modality is Modality.SPO2 else spec.unit
        signals[slot] = SlotSignal(
            slot=slot,
            data=place(first.index, data) if place else data,
            sfreq=first.sfreq,
            label=choice.label,
            unit=first.unit if unit == "native" else unit,
            reason=choice.reason,
        )
    return signals


def warning_log(name: str, logger: logging.Logger) -> tuple[list[str], Callable[[str], None]]:
    """A recording's warnings, and ``warn(message)``, which logs ``name: message`` once and
    keeps it in the list (``Study.warnings``).

    >>> warnings, warn = warning_log("night.edf", logging.getLogger("demo"))
    >>> warn("odd unit"); warn("odd unit"); warnings
    ['night.edf: odd unit']
    """
    collected: list[str] = []

    def warn(message: str) -> None:
        text = f"{name}: {message}"
        if text not in collected:
            collected.append(text)
            logger.warning(text)

    return collected, warn


def require_one_epoch(duration_s: float, path: str | Path) -> None:
    """Raise :class:`InvalidRecordingError` for a recording shorter than one 30-s epoch."""
    if duration_s < EPOCH_SECONDS:
        raise InvalidRecordingError(
            f"the recording lasts {duration_s:g} s, shorter than one {EPOCH_SECONDS:g}-s "
            "epoch; choose the full-night recording",
            path,
        )
