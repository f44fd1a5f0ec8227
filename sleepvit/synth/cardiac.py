"""ECG: PQRST beats at a stage-dependent heart rate with respiratory and slow variability."""

from __future__ import annotations

import numpy as np
import scipy.signal

from sleepvit.synth.noise import band, pink, spectral_noise
from sleepvit.synth.subject import Subject
from sleepvit.synth.timeline import CTRL_FS, Timeline, by_stage, upsample

# (offset from R in s, relative amplitude, width in s) of the P, Q, R, S and T waves.
_PQRST = (
    (-0.2, 0.12, 0.025),
    (-0.035, -0.14, 0.01),
    (0.0, 1.0, 0.011),
    (0.035, -0.28, 0.012),
    (0.28, 0.3, 0.05),
)


def beat_template(fs: float, r_uv: float) -> tuple[np.ndarray, int]:
    """One heartbeat sampled at ``fs`` Hz and the index of its R peak.

    Examples
    --------
    >>> wave, r = beat_template(256.0, 1000.0)
    >>> int(np.argmax(wave)) == r
    True
    """
    t = np.arange(-0.3, 0.5, 1.0 / fs)
    wave = sum(a * np.exp(-0.5 * ((t - mu) / w) ** 2) for mu, a, w in _PQRST)
    return (r_uv * wave).astype(np.float32), int(np.argmin(np.abs(t)))


def heart_rate(tl: Timeline, subject: Subject, breath_phase: np.ndarray, rng) -> np.ndarray:
    """Instantaneous heart rate (beats/min) per control sample."""
    factors = by_stage(1.0, 0.96, 0.92, 0.88, 0.98)
    base = tl.envelope(factors * subject.heart_rate_bpm, jitter=0.02)
    variability = by_stage(3.0, 2.5, 2.0, 1.2, 4.0)
    slow = spectral_noise(tl.n_ctrl, CTRL_FS, band(0.02, 0.15, 0.02), rng)
    sinus_arrhythmia = 2.0 * np.sin(breath_phase)
    hr = base + subject.hrv_scale * (tl.envelope(variability) * slow + sinus_arrhythmia)
    return (hr + 12.0 * tl.arousal).astype(np.float32)


def ecg(tl: Timeline, subject: Subject, fs: float, breath_phase: np.ndarray, rng) -> np.ndarray:
    """Lead-II-like ECG in µV at ``fs`` Hz with breathing baseline wander and muscle noise."""
    hr = heart_rate(tl, subject, breath_phase, rng)
    beats = np.cumsum(hr / 60.0 / CTRL_FS)
    beat_ctrl = np.searchsorted(beats, np.arange(1, int(beats[-1]) + 1))
    n = int(round(tl.duration_s * fs))
    # Place each beat inside its control interval where the cumulated phase crosses it.
    prev = np.concatenate([[0.0], beats])[beat_ctrl]
    frac = (np.arange(1, beat_ctrl.size + 1) - prev) / np.maximum(beats[beat_ctrl] - prev, 1e-9)
    samples = ((beat_ctrl + frac) / CTRL_FS * fs).astype(int)
    train = np.zeros(n, dtype=np.float32)
    train[samples[samples < n]] = 1.0
    wave, r_index = beat_template(fs, subject.ecg_r_uv)
    signal = scipy.signal.oaconvolve(train, wave)[r_index : r_index + n].astype(np.float32)
    wander = 40.0 * upsample(np.sin(breath_phase).astype(np.float32), fs)[:n]
    noise = 8.0 * spectral_noise(n, fs, pink(1.0, 0.5, 0.45 * fs), rng)
    return signal + wander + noise
