"""Eye movements as the corneo-retinal dipole seen by the EOG electrodes.

Horizontal gaze moves the positive cornea towards one outer canthus: E1 (left) and
E2 (right) deflect in opposite directions, the AASM sign of a real eye movement.
Blinks roll the eyes upwards; with E1 below and E2 above the eye level they too appear
out of phase. Cortical activity leaks into both electrodes in phase (see ``eeg``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from sleepvit.synth import events
from sleepvit.synth.noise import band, spectral_noise
from sleepvit.synth.timeline import CTRL_FS, REM, Timeline, W, by_stage, upsample


@dataclass
class EyeSignals:
    horizontal: np.ndarray
    """Gaze in µV as seen at E1 (positive = looking left)."""
    vertical: np.ndarray
    """Upward eye roll (blinks) in µV as seen above the eye."""


def _saccade_targets(times: np.ndarray, tl: Timeline, rng) -> np.ndarray:
    """Gaze after each saccade: reading staircases when awake, wide jumps in REM."""
    targets = np.empty(times.size, dtype=np.float32)
    stage = tl.stage_ctrl[np.minimum((times * CTRL_FS).astype(int), tl.n_ctrl - 1)]
    gaze, reading = 0.0, False
    for i, st in enumerate(stage):
        if st == W and rng.random() < 0.1:
            reading = not reading
        if st == W and reading:  # small rightward steps, then a return sweep to the line start
            gaze = gaze - rng.uniform(10, 30) if gaze > -110 else rng.uniform(90, 130)
        elif st == REM:  # darting back and forth: each jump tends to cross the midline
            gaze = float(np.clip(-0.5 * gaze + rng.normal(0, 60), -120, 120))
        else:
            gaze = float(np.clip(rng.normal(0, 70), -170, 170))
        targets[i] = gaze
    return targets


def eye_movements(tl: Timeline, fs: float, rng: np.random.Generator) -> EyeSignals:
    """Saccades, reading movements, slow rolling movements and blinks at ``fs`` Hz."""
    n = int(round(tl.duration_s * fs))
    wake = tl.is_stage(W)
    saccade_rate = (
        wake * (0.15 + 1.6 * tl.eyes_open)
        + tl.rem_phasic * 2.5
        + tl.rate(by_stage(0, 0.02, 0, 0, 0.04))
    )
    times = events.poisson_times(saccade_rate, rng)
    steps = np.diff(_saccade_targets(times, tl, rng), prepend=0.0)
    impulses = np.zeros(n, dtype=np.float64)
    np.add.at(impulses, np.minimum((times * fs).astype(int), n - 1), steps)
    gaze = np.cumsum(impulses)
    # Saccades take a few tens of milliseconds: a first-order lag with tau = 20 ms.
    alpha = 1.0 - np.exp(-1.0 / (0.02 * fs))
    horizontal = scipy.signal.lfilter([alpha], [1.0, alpha - 1.0], gaze).astype(np.float32)

    rolling = tl.envelope(by_stage(12, 55, 8, 0, 4), jitter=0.3)
    rolling *= 1.0 - tl.eyes_open
    slow = spectral_noise(tl.n_ctrl, CTRL_FS, band(0.08, 0.45, 0.1), rng) * rolling
    horizontal += upsample(slow, fs)[:n]

    vertical = np.zeros(n, dtype=np.float32)
    blink_rate = wake * (0.04 + 0.35 * tl.eyes_open) + 0.1 * tl.arousal
    for t in events.poisson_times(blink_rate, rng):
        events.add_waveform(vertical, fs, t, events.blink(fs, rng.uniform(120, 260)))
    return EyeSignals(horizontal=horizontal, vertical=vertical)
