"""Transient graphoelements: when they happen, and the shapes that are drawn.

Events are placed by an inhomogeneous Poisson process on the control grid of a
:class:`~sleepvit.synth.timeline.Timeline`, then each event's waveform is added to
the signal at its sample position.
"""

from __future__ import annotations

import numpy as np

from sleepvit.synth.timeline import CTRL_FS


def poisson_times(rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Event onsets in seconds for a rate (events/s) given per control sample.

    Examples
    --------
    >>> times = poisson_times(np.full(4 * 600, 0.5), np.random.default_rng(0))
    >>> 250 < times.size < 350 and bool(np.all(np.diff(times) >= 0))
    True
    """
    counts = rng.poisson(np.maximum(rate, 0) / CTRL_FS)
    bins = np.repeat(np.arange(rate.size), counts)
    return np.sort((bins + rng.random(bins.size)) / CTRL_FS)


def add_waveform(x: np.ndarray, fs: float, onset_s: float, wave: np.ndarray) -> None:
    """Add ``wave`` into ``x`` starting at ``onset_s`` (cut at the end of the signal)."""
    start = int(onset_s * fs)
    if start >= x.size or start + wave.size <= 0:
        return
    lo = max(0, -start)
    stop = min(x.size, start + wave.size)
    x[start + lo : stop] += wave[lo : stop - start]


def spindle(fs: float, freq: float, duration: float, amplitude: float, rng) -> np.ndarray:
    """A waxing-waning 11-16 Hz burst (sleep spindle) of ``duration`` seconds."""
    t = np.arange(int(duration * fs)) / fs
    chirp = freq + rng.uniform(-0.3, 0.3) * (t / duration - 0.5)  # slight frequency drift
    envelope = np.sin(np.pi * t / duration) ** 2
    phase = 2 * np.pi * np.cumsum(chirp) / fs + rng.uniform(0, 2 * np.pi)
    return (amplitude * envelope * np.sin(phase)).astype(np.float32)


def k_complex(fs: float, amplitude: float, duration: float) -> np.ndarray:
    """A K-complex: sharp negative wave then a slower positive one, ``duration`` ≥ 0.5 s.

    ``amplitude`` is the depth of the negative peak in µV; the signal convention is
    the file's (negative values are surface-negative, drawn upwards on screen).
    """
    t = np.arange(int((duration + 0.4) * fs)) / fs
    neg_at, pos_at = 0.3 * duration, 0.75 * duration
    negative = -np.exp(-0.5 * ((t - neg_at) / (0.13 * duration)) ** 2)
    positive = 0.55 * np.exp(-0.5 * ((t - pos_at) / (0.22 * duration)) ** 2)
    return (amplitude * (negative + positive)).astype(np.float32)


def vertex_wave(fs: float, amplitude: float, duration: float) -> np.ndarray:
    """A vertex sharp wave: a steep surface-negative transient under 0.5 s, vertex maximum."""
    t = np.arange(int(duration * 1.6 * fs)) / fs
    main = -np.exp(-0.5 * ((t - 0.5 * duration) / (0.16 * duration)) ** 2)
    after = 0.3 * np.exp(-0.5 * ((t - 0.95 * duration) / (0.2 * duration)) ** 2)
    return (amplitude * (main + after)).astype(np.float32)


def sawtooth_train(fs: float, freq: float, n_waves: int, amplitude: float) -> np.ndarray:
    """REM sawtooth waves: a run of triangular 2-6 Hz waves with a slow rise and steep fall."""
    t = np.arange(int(n_waves / freq * fs)) / fs
    cycle = (t * freq) % 1.0
    rise = 0.75  # share of each cycle spent rising: the "saw" shape
    tooth = np.where(cycle < rise, cycle / rise, (1.0 - cycle) / (1.0 - rise)) * 2 - 1
    envelope = np.sqrt(np.clip(np.sin(np.pi * t / t[-1]), 0, 1)) if t.size > 1 else np.ones(1)
    return (amplitude * envelope * tooth).astype(np.float32)


def blink(fs: float, amplitude: float) -> np.ndarray:
    """An eye blink on the vertical eye axis: fast rise, slower fall, ~0.35 s."""
    t = np.arange(int(0.45 * fs)) / fs
    shape = (t / 0.09) ** 2 * np.exp(2 * (1 - t / 0.09)) * (t < 0.09) + np.exp(
        -(((t - 0.09) / 0.12) ** 2)
    ) * (t >= 0.09)
    return (amplitude * shape).astype(np.float32)


def hann_bump(fs: float, duration: float) -> np.ndarray:
    """A smooth bump of height 1: a muscle twitch or movement envelope."""
    n = max(int(duration * fs), 3)
    return np.hanning(n).astype(np.float32)
