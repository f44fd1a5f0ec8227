"""Epochs with one decisive feature planted at a known signal and second: relevance ground truth.

A relevance map is right when it points at what the decision rested on. These epochs make that
checkable (Adebayo et al. 2018's question, asked with a known answer): a simulated N1
background, which has neither spindles nor rapid eye movements, and in chosen epochs exactly
one of

- ``spindle``: a 13-Hz, 1.5-s burst of 45 µV in the central EEG (``EEG_C``) only;
- ``rem``: three rapid, out-of-phase eye movements in both EOG rows only,

placed inside one 2-s patch column drawn at random per epoch. The feature's class
(:data:`PLANTED_STAGE`) is what a model trained on them must read from that patch alone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepvit.synth import events

FEATURES: tuple[str, ...] = ("none", "spindle", "rem")
PLANTED_STAGE = {"none": 1, "spindle": 2, "rem": 4}
"""Stage code a feature stands for: N1 background, N2 spindle, REM eye movements."""
PLANTED_SLOTS = {"spindle": ("EEG_C",), "rem": ("EOG_L", "EOG_R")}
"""The rows a feature is drawn in: a map's top signal must be one of them."""


@dataclass(frozen=True)
class PlantedEpochs:
    """Rendered epochs with what was planted where.

    ``images`` uint8 ``[n, H, W]``, ``present`` bool ``[n_slots]``; ``features[i]`` is one of
    :data:`FEATURES` and ``columns[i]`` the patch column it sits in (−1 for ``none``).
    """

    images: np.ndarray
    present: np.ndarray
    config: object
    features: tuple[str, ...]
    columns: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """Stage code of each epoch's feature (:data:`PLANTED_STAGE`)."""
        return np.array([PLANTED_STAGE[f] for f in self.features], np.int64)


def _spindle(fs: float, rng) -> dict[str, np.ndarray]:
    return {"EEG_C": events.spindle(fs, 13.0, 1.5, 45.0, rng)}


def _rapid_eye_movements(fs: float, rng) -> dict[str, np.ndarray]:
    """Three saccades 0.5 s apart (left, right, back), 100–140 µV, seen opposite at E1 and E2."""
    length = int(1.5 * fs)
    gaze = np.zeros(length, np.float32)
    for k, step in enumerate(rng.uniform(100, 140) * np.array([1.0, -2.0, 1.0])):
        gaze[int((0.05 + 0.5 * k) * fs) :] += step
    alpha = 1.0 - np.exp(-1.0 / (0.015 * fs))  # saccades take tens of milliseconds
    smooth = np.zeros_like(gaze)
    for i in range(1, length):
        smooth[i] = smooth[i - 1] + alpha * (gaze[i] - smooth[i - 1])
    return {"EOG_L": smooth, "EOG_R": -smooth}


_PLANTERS = {"spindle": _spindle, "rem": _rapid_eye_movements}


def planted_epochs(
    features, render_config, seed: int = 0, style: str = "hospital", patch_s: float = 2.0
) -> PlantedEpochs:
    """Simulate one N1 night of ``len(features)`` epochs and plant ``features[i]`` in epoch i.

    Each feature starts 0.25 s into a patch column (``patch_s`` wide, the model's) chosen at
    random and ends inside it. The
    night is written to EDF and read back (the real loading path), then drawn with
    ``render_config``.

    >>> from sleepvit.rendering import RenderConfig
    >>> planted = planted_epochs(["none", "spindle", "rem"], RenderConfig(), seed=1)
    >>> planted.images.shape, planted.columns[0], planted.labels.tolist()
    ((3, 176, 240), np.int64(-1), [1, 2, 4])
    """
    from sleepvit.io import load_study
    from sleepvit.rendering import render_epochs
    from sleepvit.synth.night import simulate_night, write_night

    features = tuple(features)
    unknown = sorted(set(features) - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown planted features {unknown}; choose from {FEATURES}")
    rng = np.random.default_rng([seed, 7])
    n_cols = int(round(render_config.epoch_s / patch_s))
    columns = np.where(
        np.array([f != "none" for f in features]), rng.integers(0, n_cols, len(features)), -1
    )
    with tempfile.TemporaryDirectory(prefix="sleepvit-planted-") as folder:
        night = simulate_night(seed=seed, style=style, stages=["N1"] * len(features))
        edf, _ = write_night(night, Path(folder) / "planted.edf")
        study = load_study(edf)
    for epoch, (feature, column) in enumerate(zip(features, columns, strict=True)):
        if feature == "none":
            continue
        onset = epoch * render_config.epoch_s + column * patch_s + 0.25
        for slot, wave in _PLANTERS[feature](study.signals["EEG_C"].sfreq, rng).items():
            signal = study.signals[slot]
            scaled = (
                wave
                if signal.sfreq == study.signals["EEG_C"].sfreq
                else _resample(wave, study.signals["EEG_C"].sfreq, signal.sfreq)
            )
            events.add_waveform(signal.data, signal.sfreq, onset, scaled.astype(signal.data.dtype))
    rendered = render_epochs(study, render_config)
    return PlantedEpochs(rendered.images, rendered.present, rendered.config, features, columns)


def _resample(wave: np.ndarray, fs_from: float, fs_to: float) -> np.ndarray:
    times = np.arange(int(len(wave) * fs_to / fs_from)) / fs_to
    return np.interp(times, np.arange(len(wave)) / fs_from, wave).astype(np.float32)
