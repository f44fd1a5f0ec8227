"""Recording artifacts a technician learns to ignore: pops, movement, mains hum, sweat.

Artifacts act on electrodes, not derivations: a pop or sweat sway on M1 shows on every
channel referenced to M1 (with the sign of its role in the derivation), as it does on a
real screen.
"""

from __future__ import annotations

import numpy as np

from sleepvit.synth import events
from sleepvit.synth.montage import ChannelSpec
from sleepvit.synth.noise import band, spectral_noise
from sleepvit.synth.subject import Subject
from sleepvit.synth.timeline import CTRL_FS, Timeline, W, upsample

_ELECTROPHYSIOLOGY = ("eeg:", "eog:", "emg:chin", "leg", "ecg")
_HEAD = ("eeg:", "eog:")


def _is(spec: ChannelSpec, prefixes: tuple[str, ...]) -> bool:
    return spec.source.startswith(prefixes) and spec.source != "emg:chin-rms"


def _electrode_sign(spec: ChannelSpec, electrode: str) -> float:
    if electrode not in spec.electrodes:
        return 0.0
    return 1.0 if spec.electrodes[0] == electrode else -1.0


def _head_electrodes(specs: list[ChannelSpec]) -> list[str]:
    return sorted({e for s in specs if _is(s, _HEAD) for e in s.electrodes})


def electrode_pops(data, specs, tl: Timeline, subject: Subject, rng) -> None:
    """Sudden steps with exponential decay when an electrode's contact jumps."""
    electrodes = _head_electrodes(specs)
    hours = tl.duration_s / 3600
    for _ in range(rng.poisson(2.0 * subject.artifact_load * hours)):
        electrode = electrodes[rng.integers(len(electrodes))]
        onset, size, tau = (
            rng.uniform(0, tl.duration_s),
            rng.uniform(80, 400),
            rng.uniform(0.2, 1.0),
        )
        size *= rng.choice([-1, 1])
        for spec, x in zip(specs, data, strict=True):
            sign = _electrode_sign(spec, electrode)
            if sign:
                t = np.arange(int(4 * tau * spec.fs)) / spec.fs
                events.add_waveform(
                    x, spec.fs, onset, (sign * size * np.exp(-t / tau)).astype(np.float32)
                )


def movements(data, specs, tl: Timeline, subject: Subject, rng) -> list[tuple[float, float]]:
    """Body movements: seconds of large, broadband activity on every body-surface channel."""
    wake = (tl.stage_ctrl == W).astype(np.float32)
    rate = (4.0 * wake / 3600 + 0.04 * tl.arousal) * subject.artifact_load
    found = []
    for onset in events.poisson_times(rate, rng):
        duration = rng.uniform(1.5, 8.0)
        found.append((float(onset), float(duration)))
        for spec, x in zip(specs, data, strict=True):
            n = int(duration * spec.fs)
            if n < 4 or spec.source in ("spo2", "temp", "marker"):
                continue
            envelope = events.hann_bump(spec.fs, duration)[:n]
            if _is(spec, _HEAD):
                burst = rng.uniform(30, 120) * spectral_noise(n, spec.fs, band(0.5, 30.0, 1.0), rng)
            elif _is(spec, _ELECTROPHYSIOLOGY):
                burst = rng.uniform(20, 80) * spectral_noise(
                    n, spec.fs, band(10.0, 0.4 * spec.fs), rng
                )
            else:  # breathing sensors swing with the body
                burst = rng.uniform(100, 600) * spectral_noise(
                    n, spec.fs, band(0.05, 0.4 * spec.fs), rng
                )
            events.add_waveform(x, spec.fs, onset, (burst * envelope).astype(np.float32))
    return found


def mains_hum(data, specs, subject: Subject, duration_s: float, rng) -> None:
    """50/60 Hz interference, strongest on one loose head electrode for part of the night."""
    head = [i for i, spec in enumerate(specs) if _is(spec, _HEAD)]
    loose = rng.random() < 0.4 * subject.artifact_load
    bad_channel = head[int(rng.integers(len(head)))] if loose and head else -1
    bad_start, bad_length = int(rng.uniform(0, duration_s)), int(rng.uniform(1200, 5400))
    for i, (spec, x) in enumerate(zip(specs, data, strict=True)):
        if not _is(spec, _ELECTROPHYSIOLOGY) or subject.mains_hz >= 0.45 * spec.fs:
            continue  # the amplifier's anti-alias filter removes it
        # Whole-Hz mains at a whole-Hz sampling rate repeats every second: add one second
        # of hum to every row of the (seconds, fs) view instead of computing the night's worth.
        t = np.arange(int(spec.fs)) / spec.fs
        amplitude = subject.mains_uv * np.exp(rng.normal(0, 0.7))
        hum = amplitude * np.sin(2 * np.pi * subject.mains_hz * t + rng.uniform(0, 2 * np.pi))
        seconds = x.reshape(-1, int(spec.fs))
        seconds += hum.astype(np.float32)
        if i == bad_channel:
            seconds[bad_start : bad_start + bad_length] += np.float32(11.0) * hum.astype(np.float32)


def sweat(data, specs, tl: Timeline, subject: Subject, rng) -> None:
    """Slow, large sways (0.1-0.4 Hz) from sweating under one electrode, later in the night."""
    electrodes = _head_electrodes(specs)
    night = tl.duration_s
    for _ in range(rng.poisson(0.8 * subject.artifact_load * night / (8 * 3600))):
        electrode = electrodes[rng.integers(len(electrodes))]
        onset = night * np.sqrt(rng.random())  # more likely late, when the sleeper is warm
        length = rng.uniform(180, 1500)
        n_ctrl = int(length * CTRL_FS)
        sway = spectral_noise(n_ctrl, CTRL_FS, band(0.1, 0.4, 0.1), rng)
        sway *= np.float32(rng.uniform(40, 150)) * events.hann_bump(CTRL_FS, length)[:n_ctrl]
        for spec, x in zip(specs, data, strict=True):
            sign = _electrode_sign(spec, electrode)
            if sign:
                events.add_waveform(x, spec.fs, onset, sign * upsample(sway, spec.fs))


def cardiac_field(data, specs, ecg: np.ndarray, ecg_fs: float, rng) -> None:
    """The heart's field on mastoid-referenced channels: small QRS spikes in EEG and EOG."""
    for spec, x in zip(specs, data, strict=True):
        step = ecg_fs / spec.fs
        if _is(spec, _HEAD) and step == int(step) and {"M1", "M2"} & set(spec.electrodes):
            x += np.float32(rng.uniform(0.004, 0.015)) * ecg[:: int(step)][: x.size]
