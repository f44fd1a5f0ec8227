"""Muscle activity: chin tone (highest awake, lowest in REM, with REM twitches) and leg EMG."""

from __future__ import annotations

import numpy as np

from sleepvit.synth import events
from sleepvit.synth.subject import Subject
from sleepvit.synth.timeline import Timeline, by_stage, upsample


def chin_envelope(tl: Timeline, subject: Subject, fs: float, rng) -> np.ndarray:
    """Chin EMG amplitude (µV standard deviation) at ``fs`` Hz, twitches included."""
    scale = subject.emg_scale
    rem_tone = 8.0 - subject.rem_atonia * (8.0 - 1.8)  # without atonia REM keeps N1's tone
    tone = tl.envelope(
        by_stage(14, 8, 6, 5.5, rem_tone) * scale, jitter=0.2, arousal_level=18 * scale
    )
    n = int(round(tl.duration_s * fs))
    envelope = upsample(tone, fs)[:n]
    twitch_rate = tl.rem_phasic * 0.6 + tl.rate(by_stage(0, 0, 0.01, 0, 0.06))
    for t in events.poisson_times(twitch_rate, rng):
        bump = events.hann_bump(fs, rng.uniform(0.08, 0.25)) * rng.uniform(6, 20) * scale
        events.add_waveform(envelope, fs, t, bump)
    return envelope


def chin_emg(tl: Timeline, subject: Subject, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Raw chin EMG: white (broadband) noise under its envelope."""
    envelope = chin_envelope(tl, subject, fs, rng)
    return rng.standard_normal(envelope.size, dtype=np.float32) * envelope


def chin_emg_rms(tl: Timeline, subject: Subject, rng: np.random.Generator) -> np.ndarray:
    """1-Hz RMS envelope of the chin EMG, as the Sleep-EDF cassette recorder stored it."""
    fs = 128.0
    raw = chin_emg(tl, subject, fs, rng)
    seconds = raw.size // int(fs)
    blocks = raw[: seconds * int(fs)].reshape(seconds, int(fs))
    return np.sqrt((blocks.astype(np.float64) ** 2).mean(axis=1)).astype(np.float32)


def _leg_movement_onsets(tl: Timeline, subject: Subject, rng) -> np.ndarray:
    """Isolated movements (awake, arousals) plus periodic series in light NREM sleep.

    A periodic series (AASM PLMS) is 4 or more movements 5-90 s apart, typically 20-40 s.
    """
    isolated = events.poisson_times(tl.rate(by_stage(0.01, 0, 0, 0, 0)) + 0.05 * tl.arousal, rng)
    series_per_s = subject.plm_per_hour / 3600.0 / 12  # ~12 movements per series
    starts = events.poisson_times(tl.rate(by_stage(0, 1, 1, 0.3, 0)) * series_per_s, rng)
    periodic = [
        start + np.cumsum(rng.uniform(20, 40, int(rng.integers(4, 21)))) for start in starts
    ]
    return np.sort(np.concatenate([isolated, *periodic]))


def leg_emg(tl: Timeline, subject: Subject, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Anterior tibialis EMG: quiet baseline with leg movements (periodic in some sleepers)."""
    n = int(round(tl.duration_s * fs))
    envelope = np.full(n, 1.5, dtype=np.float32)
    for t in _leg_movement_onsets(tl, subject, rng):
        bump = events.hann_bump(fs, rng.uniform(0.5, 5.0)) * rng.uniform(12, 45)
        events.add_waveform(envelope, fs, t, bump)
    return rng.standard_normal(n, dtype=np.float32) * envelope
