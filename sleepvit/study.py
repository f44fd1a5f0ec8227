"""The loaded night: one signal per canonical slot, plus what the file said about itself."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sleepvit.slots import EPOCH_SECONDS, SLOT_NAMES

if TYPE_CHECKING:
    from sleepvit.io.quality import SignalQuality


@dataclass(frozen=True)
class ChannelInfo:
    """One channel as the file declares it (before mapping)."""

    index: int
    label: str
    sfreq: float
    unit: str
    transducer: str = ""
    prefilter: str = ""


@dataclass(frozen=True)
class DigitalRange:
    """How a file stored a signal: ``value = gain · digital + offset`` (in the slot's units).

    The signal-quality checks (:mod:`sleepvit.io.quality`) use it to see samples pinned at
    the limits of the amplifier (clipping) and the format's lowest integer, which recorders
    write for samples they lost (dropout).

    >>> edf = DigitalRange(gain=0.1, offset=0.0, digital_min=-32768, digital_max=32767)
    >>> edf.limits, edf.lost_value
    ((-3276.8, 3276.7), -3276.8)
    """

    gain: float
    offset: float
    digital_min: int
    digital_max: int
    lowest: int = -32768
    """The format's lowest integer: −32768 (EDF, 16 bit) or −8388608 (BDF, 24 bit)."""

    def value(self, digital: int) -> float:
        return round(self.gain * digital + self.offset, 9)

    @property
    def limits(self) -> tuple[float, float]:
        """The values of the digital minimum and maximum, low first."""
        a, b = self.value(self.digital_min), self.value(self.digital_max)
        return (min(a, b), max(a, b))

    @property
    def lost_value(self) -> float:
        return self.value(self.lowest)


@dataclass(frozen=True)
class SlotSignal:
    """The signal chosen for one canonical slot."""

    slot: str
    data: np.ndarray
    """float32, µV for electrophysiology, % for SpO2, native units for breathing."""
    sfreq: float
    label: str
    """The source label as shown to the user, e.g. ``C4-M1`` or ``C4 - M1 (derived)``."""
    unit: str
    reason: str = ""
    """Why this channel was chosen for the slot (shown by ``sleepvit inspect``)."""
    digital: DigitalRange | None = None
    """How the file stored it (``None`` for a derivation of two channels, or a signal that
    did not come from a file)."""


@dataclass(frozen=True)
class Annotation:
    onset_s: float
    duration_s: float
    description: str


@dataclass(frozen=True)
class Identity:
    """Header identity fields, kept apart from the signals so reports can de-identify."""

    patient_id: str = ""
    patient_name: str = ""
    sex: str = ""
    birthdate: str = ""
    recording_id: str = ""
    technician: str = ""
    equipment: str = ""

    def deidentified(self) -> Identity:
        return Identity()


@dataclass
class Study:
    """A night mapped onto canonical slots. Missing slots are simply absent from ``signals``."""

    path: Path
    start: datetime
    duration_s: float
    signals: dict[str, SlotSignal]
    channels: list[ChannelInfo] = field(default_factory=list)
    identity: Identity = field(default_factory=Identity)
    annotations: list[Annotation] = field(default_factory=list)
    file_format: str = ""
    """``EDF``, ``EDF+C``, ``EDF+D`` or ``BDF``, plus the reader if not the default,
    e.g. ``EDF+C (mne fallback)``."""
    warnings: list[str] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    """``(onset_s, duration_s)`` of each interruption of an EDF+D recording: no data there."""
    quality: SignalQuality | None = None
    """What each slot of each epoch is worth (:mod:`sleepvit.io.quality`); ``load_study``
    fills it in, :func:`sleepvit.io.quality.assess` makes it for any other study."""

    @property
    def n_epochs(self) -> int:
        """Number of complete 30-s epochs."""
        return int(self.duration_s // EPOCH_SECONDS)

    @property
    def present(self) -> np.ndarray:
        """Boolean mask over :data:`~sleepvit.slots.SLOT_NAMES`."""
        return np.array([name in self.signals for name in SLOT_NAMES], dtype=bool)

    def with_gain(self, gain: float, slots) -> Study:
        """The night as an amplifier ``gain`` times as sensitive would have recorded ``slots``.

        A copy: this study is left as it is. Its signal quality is dropped, since clipping
        and flatness depend on the amplitude, so scoring assesses the copy afresh.

        >>> study.with_gain(2.0, ["EEG_C"]).signals["EEG_C"].data[:3]  # doctest: +SKIP
        array([ 8.4, -3. , 11.2], dtype=float32)
        """
        factor = np.float32(gain)
        signals = {
            slot: replace(signal, data=signal.data * factor, digital=None)
            if slot in slots
            else signal
            for slot, signal in self.signals.items()
        }
        return replace(self, signals=signals, quality=None)

    @classmethod
    def from_mne(cls, raw, channel_map=None) -> Study:
        """The night held by an ``mne.io.BaseRaw``, mapped as a file's channels are.

        Labels, referential derivations, ``channel_map`` and errors are those of
        :func:`~sleepvit.io.load_study`; MNE's volts become µV (details in
        :mod:`sleepvit.io.mne_raw`). A Raw made by :meth:`to_mne` comes back as it was.

        >>> raw = mne.io.read_raw_edf("night.edf", preload=True)  # doctest: +SKIP
        >>> Study.from_mne(raw.crop(tmin=600)).signals["EEG_C"].label  # doctest: +SKIP
        'C4-M1'
        """
        from sleepvit.io.mne_raw import study_from_raw

        return study_from_raw(raw, channel_map)

    def to_mne(self, sfreq: float | None = None):
        """The mapped slots as an ``mne.io.RawArray`` at ``sfreq`` (default: the fastest
        slot's), in volts, with the study's start and annotations (see
        :func:`~sleepvit.io.mne_raw.study_to_raw`).

        >>> load_study("night.edf").to_mne().ch_names[:2]  # doctest: +SKIP
        ['F4-M1', 'C4-M1']
        """
        from sleepvit.io.mne_raw import study_to_raw

        return study_to_raw(self, sfreq)
