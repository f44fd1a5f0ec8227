"""Signal quality: which slot of which 30-s epoch can be read, and why not.

A flat, clipped or lost signal is not an EEG of a sleeping patient, and a model shown one
answers anyway, confidently. So before staging, every slot of every epoch is checked; a slot
that fails is masked as absent for that epoch (the model masks absent slots already), and an
epoch left without a readable EEG is not scored (``UNS``, with its reason). The checks, in
this order (the first that applies names the problem):

==================  ===========================================================================
problem             the slot-epoch is lost when …
==================  ===========================================================================
no data             at least half of the epoch lies in an interruption of an EDF+D recording
sampling rate       the channel is sampled too slowly to show what its slot needs, all night:
                    EEG < 50 Hz (spindles 11–16 Hz and alpha need a Nyquist frequency of 25 Hz;
                    AASM asks for 200 Hz, the slowest common systems record 100–128 Hz), EOG
                    < 25 Hz (eye movements and the K-complexes spread into the EOG lie below
                    12 Hz), ECG < 50 Hz (a QRS lasts 80–100 ms), breathing < 1 Hz (a breath
                    takes 2–6 s). Chin EMG and SpO2 have no floor: a 1-Hz chin EMG is an
                    amplitude envelope (Sleep-EDF), SpO2 is a slow number.
dropout             at least half of its samples hold the format's lowest integer (−32768 in
                    EDF, −8388608 in BDF), which recorders write for samples they lost; for
                    SpO2, readings outside 0–100 % (0, 127 or 255 when the probe is off)
clipped             at least half of its samples sit at the digital minimum or maximum: the
                    amplifier is saturated (electrode off, DC overload). Not for SpO2, where
                    100 % is a healthy reading.
flat                the robust amplitude (1.4826 × the median absolute deviation, i.e. the
                    standard deviation of a normal signal, unmoved by a minority of spikes)
                    is below 0.5 µV for EEG and EOG (the quietest waking EEG has 5–10 µV, an
                    amplifier's own noise is 0.5–1 µV), 0.2 µV for chin EMG (REM atonia still
                    shows 1–3 µV) and 1 µV for ECG; for breathing signals and a chin EMG
                    envelope, whose units and levels vary, when more than half of the
                    samples hold one value (a dead channel; a real one moves by a step of
                    its resolution at least)
mains hum           EEG and EOG only: the 50- or 60-Hz hum (±1 Hz), as it is still drawn after
                    the display low-pass (35 Hz, second-order Butterworth run forward and
                    back: 19 % of its amplitude at 50 Hz, 10 % at 60 Hz), carries more power
                    than the whole display band (0.3–35 Hz). The brain has no 50-Hz rhythm of
                    that size; a loose electrode picks up the wiring. Skipped at the frequency
                    the renderer notches.
==================  ===========================================================================

"At least half" follows the AASM rule that an epoch is scored by what fills most of it: when
most of a signal is missing, no majority of it can be read. A problem covering less than half
of an epoch leaves the slot in use.

Examples
--------
>>> from datetime import datetime
>>> from sleepvit.study import SlotSignal, Study
>>> flat = SlotSignal("EEG_C", np.zeros(100 * 90, np.float32), 100.0, "C4-M1", "uV")
>>> quality = assess(Study("night.edf", datetime(2026, 1, 1, 22), 90.0, {"EEG_C": flat}))
>>> quality.reasons()
['no usable EEG: EEG_C flat', 'no usable EEG: EEG_C flat', 'no usable EEG: EEG_C flat']
>>> quality.scorable.tolist()
[False, False, False]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

import numpy as np
from scipy import fft

from sleepvit.slots import (
    DISPLAY_FILTER_ORDER,
    EEG_SLOTS,
    EPOCH_SECONDS,
    SLOT_BY_NAME,
    SLOT_NAMES,
    Modality,
)
from sleepvit.study import SlotSignal, Study


class Problem(IntEnum):
    """Why a slot of an epoch cannot be read; lower values are checked first."""

    NONE = 0
    NO_DATA = 1
    SAMPLING_RATE = 2
    DROPOUT = 3
    CLIPPED = 4
    FLAT = 5
    MAINS_50 = 6
    MAINS_60 = 7

    @property
    def text(self) -> str:
        """Short name, as in reasons and the summary: ``flat``, ``mains hum (50 Hz)``, …"""
        return _PROBLEM_TEXT[self]


_PROBLEM_TEXT = {
    Problem.NONE: "",
    Problem.NO_DATA: "no data",
    Problem.SAMPLING_RATE: "sampled too slowly",
    Problem.DROPOUT: "dropout",
    Problem.CLIPPED: "clipped",
    Problem.FLAT: "flat",
    Problem.MAINS_50: "mains hum (50 Hz)",
    Problem.MAINS_60: "mains hum (60 Hz)",
}

MAJORITY = 0.5
"""Share of an epoch a problem must cover for the slot to be lost in that epoch."""
MIN_RATE_HZ: dict[Modality, float] = {
    Modality.EEG: 50.0,
    Modality.EOG: 25.0,
    Modality.ECG: 50.0,
    Modality.RESP: 1.0,
}
"""Slowest sampling rate that can show what each kind of slot needs (module docstring)."""
FLAT_UV: dict[Modality, float] = {
    Modality.EEG: 0.5,
    Modality.EOG: 0.5,
    Modality.EMG: 0.2,
    Modality.ECG: 1.0,
}
"""Robust amplitude (µV) below which an electrophysiological signal is flat."""
MAINS_HZ = (50.0, 60.0)
MAINS_HALF_WIDTH_HZ = 1.0
SPO2_READINGS = (0.0, 100.0)
"""An SpO2 sample outside ``(0, 100]`` % is no reading (oximeters write 0, 127 or 255)."""
ROBUST_SAMPLES = 256
"""Samples per epoch the robust statistics look at (every k-th): a median of 256 samples
tells 0.5 µV from the 5 µV of the quietest EEG, and shares of an epoch to ±3 %."""
MAINS_WINDOW_S = 8.0
"""Seconds of each epoch whose spectrum is checked for hum (0.125-Hz resolution): mains hum is
steady over seconds, and a whole-epoch spectrum cost 4 times as much."""
_CHUNK_EPOCHS = 64
_MAD_TO_SD = 1.4826
_MAINS_SLOTS = (Modality.EEG, Modality.EOG)


# ---------------------------------------------------------------- one signal


def epoch_problems(
    signal: SlotSignal, n_epochs: int, notch_hz: float | None = None, check_mains: bool = True
) -> np.ndarray:
    """The :class:`Problem` of each of the first ``n_epochs`` epochs of one slot's signal.

    ``notch_hz`` is the mains frequency the renderer removes (no hum check there);
    ``check_mains=False`` skips the hum check (one electrode of a derivation against the
    amplifier's reference carries hum that the derivation cancels). Returns uint8
    ``[n_epochs]``; gaps of EDF+D recordings are :func:`assess`'s business.

    >>> t = np.arange(256 * 60) / 256
    >>> eeg = (20 * np.sin(2 * np.pi * 10 * t)).astype(np.float32)
    >>> eeg[256 * 30 :] = 0.0
    >>> [Problem(p).text for p in epoch_problems(SlotSignal("EEG_C", eeg, 256.0, "C4", "uV"), 2)]
    ['', 'flat']
    """
    spec = SLOT_BY_NAME[signal.slot]
    problems = np.zeros(n_epochs, np.uint8)
    if n_epochs == 0:
        return problems
    if signal.sfreq < MIN_RATE_HZ.get(spec.modality, 0.0):
        problems[:] = Problem.SAMPLING_RATE
        return problems
    for first in range(0, n_epochs, _CHUNK_EPOCHS):
        rows = _epoch_rows(signal, first, min(first + _CHUNK_EPOCHS, n_epochs))
        if rows.shape[1] == 0:
            continue
        problems[first : first + len(rows)] = _chunk_problems(signal, rows, notch_hz, check_mains)
    return problems


def _epoch_rows(signal: SlotSignal, first: int, stop: int) -> np.ndarray:
    """Samples of epochs ``first … stop − 1`` as rows of equal length (a view when possible)."""
    data = signal.data
    per_epoch = EPOCH_SECONDS * signal.sfreq
    width = int(np.floor(per_epoch + 1e-9))
    if abs(per_epoch - round(per_epoch)) < 1e-9 and stop * width <= data.size:
        return data[first * width : stop * width].reshape(stop - first, width)
    starts = np.round(np.arange(first, stop) * per_epoch).astype(np.int64)
    return data[np.minimum(starts[:, None] + np.arange(width), data.size - 1)]


def _chunk_problems(
    signal: SlotSignal, rows: np.ndarray, notch_hz: float | None, check_mains: bool
) -> np.ndarray:
    spec = SLOT_BY_NAME[signal.slot]
    modality = spec.modality
    sample = rows[:, :: max(1, rows.shape[1] // ROBUST_SAMPLES)]
    problems = np.zeros(len(rows), np.uint8)

    def mark(lost: np.ndarray, problem: Problem) -> None:
        problems[(problems == Problem.NONE) & lost] = problem

    digital = signal.digital
    if modality is Modality.SPO2:
        low, high = SPO2_READINGS
        mark(((sample <= low) | (sample > high)).mean(axis=1) >= MAJORITY, Problem.DROPOUT)
        return problems
    if digital is not None:
        tolerance = abs(digital.gain) / 2
        lost = np.abs(sample - digital.lost_value) <= tolerance
        mark(lost.mean(axis=1) >= MAJORITY, Problem.DROPOUT)
        at_limit = np.zeros_like(lost)
        for limit in digital.limits:
            at_limit |= np.abs(sample - limit) <= tolerance
        mark((at_limit & ~lost).mean(axis=1) >= MAJORITY, Problem.CLIPPED)
    median = np.median(sample, axis=1, keepdims=True)
    spread = _MAD_TO_SD * np.median(np.abs(sample - median), axis=1)
    envelope = modality is Modality.EMG and spec.band_hz[0] >= 0.45 * signal.sfreq
    if modality in FLAT_UV and not envelope:
        mark(spread < FLAT_UV[modality], Problem.FLAT)
    else:  # native units or an envelope: only a dead channel is flat
        mark(spread == 0, Problem.FLAT)
    mains = [
        (hz, problem)
        for hz, problem in zip(MAINS_HZ, (Problem.MAINS_50, Problem.MAINS_60), strict=True)
        if hz != notch_hz and hz + MAINS_HALF_WIDTH_HZ < 0.45 * signal.sfreq
    ]
    if modality in _MAINS_SLOTS and mains and check_mains:
        window = rows[:, : max(1, int(MAINS_WINDOW_S * signal.sfreq))]
        spectrum = np.abs(fft.rfft(window - window.mean(axis=1, keepdims=True), axis=1)) ** 2
        freqs = fft.rfftfreq(window.shape[1], 1 / signal.sfreq)
        low, high = spec.band_hz
        band = spectrum[:, (freqs >= low) & (freqs <= high)].sum(axis=1)
        for hz, problem in mains:
            hum = spectrum[:, np.abs(freqs - hz) <= MAINS_HALF_WIDTH_HZ].sum(axis=1)
            mark(hum * drawn_power_gain(hz, high) > band, problem)
    return problems


def drawn_power_gain(hz: float, low_pass_hz: float) -> float:
    """Share of a sine's power at ``hz`` the renderer's display low-pass lets through.

    A Butterworth low-pass of order n passes |H|² = 1 / (1 + (f/fc)^2n) of the power; run
    forward and back (zero phase) it passes that squared.

    >>> round(drawn_power_gain(50.0, 35.0) ** 0.5, 3), round(drawn_power_gain(60.0, 35.0) ** 0.5, 3)
    (0.194, 0.104)
    """
    return (1 / (1 + (hz / low_pass_hz) ** (2 * DISPLAY_FILTER_ORDER))) ** 2


def combined(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per epoch, the problem checked first of two (e.g. the two inputs of a derivation).

    >>> combined(np.array([0, 5, 4], np.uint8), np.array([3, 0, 5], np.uint8)).tolist()
    [3, 5, 4]
    """
    both = np.where(first == 0, second, np.where(second == 0, first, np.minimum(first, second)))
    return both.astype(np.uint8)


# ---------------------------------------------------------------- a night


@dataclass(frozen=True)
class SignalQuality:
    """What each slot of each epoch of a night is worth.

    ``problems[e, s]`` is the :class:`Problem` of slot ``SLOT_NAMES[s]`` in epoch ``e``
    (``0``: readable, or the slot is absent). ``labels`` holds the source label of each slot
    the recording has. What the model may read is :attr:`usable`; the epochs it can stage at
    all are :attr:`scorable`; :meth:`reasons` says, per epoch, what is missing.
    """

    problems: np.ndarray
    labels: dict[str, str]
    rates: dict[str, float]

    @property
    def n_epochs(self) -> int:
        return len(self.problems)

    @property
    def present(self) -> np.ndarray:
        """bool ``[n_slots]``: the slots the recording has."""
        return np.array([slot in self.labels for slot in SLOT_NAMES])

    @property
    def usable(self) -> np.ndarray:
        """bool ``[n_epochs, n_slots]``: slots present and readable, per epoch."""
        return self.present[None, :] & (self.problems == Problem.NONE)

    @property
    def scorable(self) -> np.ndarray:
        """bool ``[n_epochs]``: epochs with at least one readable EEG slot."""
        eeg = [SLOT_NAMES.index(slot) for slot in EEG_SLOTS]
        return self.usable[:, eeg].any(axis=1)

    @property
    def no_data(self) -> np.ndarray:
        """bool ``[n_epochs]``: epochs inside an interruption of the recording."""
        present = self.present
        if not present.any():
            return np.zeros(self.n_epochs, bool)
        return (self.problems[:, present] == Problem.NO_DATA).all(axis=1)

    def notched(self, notch_hz: float | None) -> SignalQuality:
        """The same, for a renderer that removes mains hum at ``notch_hz``."""
        problem = {50.0: Problem.MAINS_50, 60.0: Problem.MAINS_60}.get(notch_hz)
        if problem is None or not (self.problems == problem).any():
            return self
        return replace(self, problems=np.where(self.problems == problem, 0, self.problems))

    def reasons(self) -> list[str]:
        """Per epoch: ``""``, ``"no data"``, ``"no usable EEG: EEG_C flat"`` or
        ``"scored without EOG_L (clipped)"``."""
        eeg = set(EEG_SLOTS)
        out = []
        no_data = self.no_data
        scorable = self.scorable
        for epoch, codes in enumerate(self.problems):
            lost = [
                (slot, Problem(code).text)
                for slot, code in zip(SLOT_NAMES, codes, strict=True)
                if code and slot in self.labels
            ]
            if no_data[epoch]:
                out.append(NO_DATA_REASON)
            elif not scorable[epoch]:
                shown = ", ".join(f"{slot} {text}" for slot, text in lost if slot in eeg)
                out.append(f"{NO_EEG_REASON}: {shown}")
            elif lost:
                out.append("scored without " + ", ".join(f"{s} ({t})" for s, t in lost))
            else:
                out.append("")
        return out

    def findings(self) -> list[dict]:
        """Each problem of each slot: slot, label, problem, epochs affected, first epoch (from 1).

        Gaps are left out (they are every slot's, see :attr:`no_data`).
        """
        found = []
        for index, slot in enumerate(SLOT_NAMES):
            if slot not in self.labels:
                continue
            column = self.problems[:, index]
            for code in np.unique(column[column > Problem.NO_DATA]):
                epochs = np.flatnonzero(column == code)
                found.append(
                    {
                        "slot": slot,
                        "label": self.labels[slot],
                        "problem": Problem(code).text,
                        "detail": _detail(Problem(code), slot, self.rates.get(slot)),
                        "epochs": int(epochs.size),
                        "first_epoch": int(epochs[0]) + 1,
                    }
                )
        return found

    def warnings(self) -> list[str]:
        """One line per problem (slots that share it over the same epochs together), and one
        saying what becomes of the epochs."""
        n = self.n_epochs
        groups: dict[tuple, list[str]] = {}
        for f in self.findings():
            key = (f["problem"], f["detail"], f["epochs"], f["first_epoch"])
            groups.setdefault(key, []).append(f"{f['slot']} ({f['label']})")
        lines = [
            f"{', '.join(slots)}: {problem} ({detail}) in {epochs} of {n} epochs, from epoch "
            f"{first}; left out of those epochs"
            for (problem, detail, epochs, first), slots in groups.items()
        ]
        no_data = int(self.no_data.sum())
        if no_data:
            lines.append(
                f"{no_data} of {n} epochs fall in interruptions of the recording (no data); "
                "they are unscored (UNS)"
            )
        unreadable = int((~self.scorable & ~self.no_data).sum())
        if unreadable:
            lines.append(f"{unreadable} of {n} epochs have no usable EEG; they are unscored (UNS)")
        return lines

    def to_dict(self) -> dict:
        """The ``quality`` section of ``STEM.summary.json``."""
        return {
            "unscored_epochs": int((~self.scorable).sum()),
            "no_data_epochs": int(self.no_data.sum()),
            "no_usable_eeg_epochs": int((~self.scorable & ~self.no_data).sum()),
            "epochs_with_a_slot_left_out": int(
                (self.scorable & (self.usable != self.present[None, :]).any(axis=1)).sum()
            ),
            "findings": self.findings(),
            "thresholds": thresholds(),
        }


NO_DATA_REASON = "no data"
"""Reason of an epoch inside an interruption of the recording."""
NO_EEG_REASON = "no usable EEG"
"""Start of the reason of an epoch whose every EEG slot is lost."""


def _detail(problem: Problem, slot: str, sfreq: float | None) -> str:
    modality = SLOT_BY_NAME[slot].modality
    if problem is Problem.SAMPLING_RATE:
        return (
            f"{sfreq:g} Hz; {modality.value} needs at least {MIN_RATE_HZ[modality]:g} Hz"
            if sfreq is not None
            else f"{modality.value} needs at least {MIN_RATE_HZ[modality]:g} Hz"
        )
    if problem is Problem.DROPOUT:
        if modality is Modality.SPO2:
            return "readings outside 0-100 %"
        return "samples at the format's lowest value, written for lost samples"
    if problem is Problem.CLIPPED:
        return "samples at the digital minimum or maximum"
    if problem is Problem.FLAT:
        if modality in FLAT_UV:
            return f"robust amplitude below {FLAT_UV[modality]:g} µV"
        return "one value held"
    return "hum outweighs the display band"


def thresholds() -> dict:
    """The thresholds of the module docstring, for the summary JSON.

    >>> thresholds()["flat_uv"]["EEG"]
    0.5
    """
    return {
        "majority_of_epoch": MAJORITY,
        "min_rate_hz": {m.value: hz for m, hz in MIN_RATE_HZ.items()},
        "flat_uv": {m.value: uv for m, uv in FLAT_UV.items()},
        "mains_hz": list(MAINS_HZ),
        "spo2_readings_pct": list(SPO2_READINGS),
    }


def assess(study: Study, notch_hz: float | None = None) -> SignalQuality:
    """Check every slot of every epoch of ``study`` (see the module docstring).

    ``load_study`` does this for files (and also checks both inputs of a derivation);
    call it for a study made another way.
    """
    n = study.n_epochs
    problems = np.zeros((n, len(SLOT_NAMES)), np.uint8)
    for slot, signal in study.signals.items():
        problems[:, SLOT_NAMES.index(slot)] = epoch_problems(signal, n, notch_hz)
    return with_gaps(
        SignalQuality(
            problems,
            {slot: s.label for slot, s in study.signals.items()},
            {slot: s.sfreq for slot, s in study.signals.items()},
        ),
        study.gaps,
    )


def with_gaps(quality: SignalQuality, gaps: list[tuple[float, float]]) -> SignalQuality:
    """``quality`` with every present slot lost in epochs at least half inside a gap."""
    if not gaps:
        return quality
    n = quality.n_epochs
    starts = np.arange(n) * EPOCH_SECONDS
    missing = np.zeros(n)
    for onset, length in gaps:
        missing += np.clip(
            np.minimum(starts + EPOCH_SECONDS, onset + length) - np.maximum(starts, onset), 0, None
        )
    problems = quality.problems.copy()
    gap = missing >= MAJORITY * EPOCH_SECONDS
    problems[np.ix_(gap, quality.present)] = Problem.NO_DATA
    return replace(quality, problems=problems)
