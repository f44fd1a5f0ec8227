"""What scale the model reads a night at: the physical one, or one calibrated to the night.

The technician's screen always keeps the fixed physical scale of each row (N3 is defined by
slow waves > 75 µV). A model, though, meets recordings whose amplitudes differ by a factor of
two or more for reasons that are not the stage: amplifier calibration, derivation (Cz-A1 is
larger than C4-M1), electrode impedance, age. With ``calibration="night"`` the rows of EEG,
EOG and chin EMG are drawn for the model at a scale set by the night itself: the row's range
is multiplied by the night's level (the 75th percentile over epochs of the display trace's
RMS) over a reference level typical of the simulated training nights. Every channel
multiplied by any constant is then drawn identically; the relative amplitudes within the
night (slow waves against the night's N2, atonia against its wake tone) are kept.

The factor of each row is kept with the night's scoring (``summary.json``), so the report
can say which calibration was applied.

Examples
--------
>>> import numpy as np
>>> rms = np.array([10.0, 20.0, 30.0, 40.0])
>>> round(night_level(rms), 1)
32.5
>>> range_factor("EEG_C", 2 * REFERENCE_RMS["EEG"])
2.0
"""

from __future__ import annotations

import numpy as np

from sleepvit.slots import SLOT_BY_NAME

CALIBRATIONS = ("physical", "night")
NIGHT_PERCENTILE = 75.0
REFERENCE_RMS: dict[str, float] = {"EEG": 18.0, "EOG": 26.0, "EMG": 6.0}
"""Typical night level (µV) per modality: the median over simulated training-style nights of
:func:`night_level` of the display trace (measured on 4 nights of ``simulate_training_night``:
EEG 9–27, EOG 21–29, chin EMG 2–13 µV), so that a typical night is drawn as before."""
CALIBRATED_MODALITIES = tuple(REFERENCE_RMS)
FACTOR_LIMITS = (0.2, 5.0)
"""A flat or wildly saturated channel must not blow its row up or squash it to nothing."""


def is_calibrated(slot: str) -> bool:
    """Whether ``slot``'s row follows the night's level under ``calibration="night"``."""
    return SLOT_BY_NAME[slot].modality.value in CALIBRATED_MODALITIES


def epoch_rms(trace: np.ndarray, samples_per_epoch: int) -> np.ndarray:
    """RMS of each whole epoch of a display trace (NaN samples, outside the signal, ignored)."""
    n = trace.size // samples_per_epoch
    epochs = trace[: n * samples_per_epoch].reshape(n, samples_per_epoch).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.nanmean(epochs**2, axis=1))


def night_level(rms: np.ndarray) -> float:
    """The night's level: the 75th percentile of its epochs' RMS (NaN epochs left out)."""
    finite = rms[np.isfinite(rms) & (rms > 0)]
    return float(np.percentile(finite, NIGHT_PERCENTILE)) if finite.size else 0.0


def range_factor(slot: str, level: float) -> float:
    """How much wider than the physical range ``slot``'s row is drawn for a night at ``level``."""
    reference = REFERENCE_RMS[SLOT_BY_NAME[slot].modality.value]
    if not level > 0:
        return 1.0
    return float(np.clip(level / reference, *FACTOR_LIMITS))
