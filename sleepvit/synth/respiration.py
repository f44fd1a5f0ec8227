"""Breathing (flow, thoracic and abdominal effort), sleep apnoea events and SpO2.

Apnoeas and hypopnoeas occur mostly in N1, N2 and REM, end with recovery breaths and
usually an arousal, and are followed by a 3-8 % oxygen desaturation whose nadir lags
the end of the event by about 20 s, as circulation delay makes it in real recordings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleepvit.slots import EPOCH_SECONDS
from sleepvit.synth.noise import band, spectral_noise
from sleepvit.synth.subject import Subject
from sleepvit.synth.timeline import (
    CTRL_FS,
    REM,
    Timeline,
    W,
    by_stage,
    smooth,
    upsample,
)


@dataclass(frozen=True)
class RespiratoryEvent:
    onset_s: float
    duration_s: float
    kind: str
    """``Obstructive apnea``, ``Central apnea`` or ``Hypopnea`` (AASM event names)."""


def schedule_events(stages: np.ndarray, subject: Subject, rng) -> list[RespiratoryEvent]:
    """Respiratory events at ``subject.ahi`` per hour of sleep, never overlapping."""
    plain = np.where(stages < 0, W, stages)
    weight = by_stage(0.0, 1.2, 1.0, 0.3, 1.8)[plain]
    if weight.sum() == 0:
        return []
    sleep_hours = np.count_nonzero(plain != W) * EPOCH_SECONDS / 3600
    expected = subject.ahi * sleep_hours * weight / weight.sum()
    found: list[RespiratoryEvent] = []
    busy_until = 0.0
    for epoch in np.flatnonzero(rng.random(plain.size) < expected):
        onset = epoch * EPOCH_SECONDS + rng.uniform(0, EPOCH_SECONDS)
        if onset < busy_until:
            continue
        kind = rng.choice(
            ["Obstructive apnea", "Hypopnea", "Hypopnea", "Central apnea"], p=[0.4, 0.25, 0.25, 0.1]
        )
        duration = rng.uniform(11, 25) * (1.4 if plain[epoch] == REM else 1.0)
        found.append(RespiratoryEvent(float(onset), float(duration), str(kind)))
        busy_until = onset + duration + 30.0
    return found


def breath_phase(tl: Timeline, subject: Subject, rng) -> np.ndarray:
    """Breathing phase in radians per control sample (rate and regularity by stage)."""
    rate = tl.envelope(by_stage(1.05, 1.0, 0.97, 0.95, 1.08) * subject.breaths_per_min, 0.03)
    irregular = tl.envelope(by_stage(0.12, 0.06, 0.04, 0.02, 0.15))
    wobble = spectral_noise(tl.n_ctrl, CTRL_FS, band(0.01, 0.2, 0.02), rng)
    rate = rate * (1.0 + irregular * wobble)
    return (2 * np.pi * np.cumsum(rate / 60.0 / CTRL_FS)).astype(np.float64)


def _event_modulation(tl: Timeline, found: list[RespiratoryEvent]):
    flow = np.ones(tl.n_ctrl, dtype=np.float32)
    effort = np.ones(tl.n_ctrl, dtype=np.float32)
    paradox = np.zeros(tl.n_ctrl, dtype=np.float32)
    residual = {
        "Obstructive apnea": (0.05, 1.2),
        "Central apnea": (0.05, 0.05),
        "Hypopnea": (0.4, 0.7),
    }
    for ev in found:
        a, b = int(ev.onset_s * CTRL_FS), int((ev.onset_s + ev.duration_s) * CTRL_FS)
        flow[a:b], effort[a:b] = residual[ev.kind]
        if ev.kind == "Obstructive apnea":
            paradox[a:b] = 1.0
        flow[b : b + int(8 * CTRL_FS)] = 1.7  # recovery breaths
        effort[b : b + int(8 * CTRL_FS)] = 1.5
    return smooth(flow, 1.5), smooth(effort, 1.5), smooth(paradox, 2.0)


_INSPIRATION_SHARE = 0.4


def _breath_angle(phase: np.ndarray) -> np.ndarray:
    """Warp the phase so that inhaling (angle 0..pi) takes 40 % of each breath, as it does."""
    cycle = np.mod(phase / np.float32(2 * np.pi), np.float32(1.0))
    inhaling = cycle < _INSPIRATION_SHARE
    return np.float32(np.pi) * np.where(
        inhaling,
        cycle / np.float32(_INSPIRATION_SHARE),
        1 + (cycle - np.float32(_INSPIRATION_SHARE)) / np.float32(1 - _INSPIRATION_SHARE),
    )


def breathing(tl: Timeline, subject: Subject, phase: np.ndarray, found, fs: float, rng):
    """Flow, thoracic and abdominal effort at ``fs`` Hz (arbitrary units ~ µV of the sensor)."""
    n = int(round(tl.duration_s * fs))
    tidal = tl.envelope(by_stage(1.0, 0.9, 0.85, 0.85, 0.8), jitter=0.15)
    sighs = by_stage(1, 0, 0, 0, 0)[tl.stage_ctrl] * (
        spectral_noise(tl.n_ctrl, CTRL_FS, band(0.005, 0.05, 0.005), rng) > 2.0
    )
    tidal = tidal * (1.0 + 0.8 * smooth(sighs.astype(np.float32), 4.0)) * (1 + 0.6 * tl.arousal)
    breath_to_breath = tl.envelope(by_stage(0.15, 0.08, 0.06, 0.03, 0.2))
    breath_to_breath *= spectral_noise(tl.n_ctrl, CTRL_FS, band(0.03, 0.3, 0.05), rng)
    tidal = tidal * np.clip(1.0 + breath_to_breath, 0.3, None)
    flow_mod, effort_mod, paradox = _event_modulation(tl, found)
    ph = upsample(phase.astype(np.float32), fs)[:n]
    up = {
        name: upsample(arr, fs)[:n]
        for name, arr in (
            ("tidal", tidal),
            ("flow", flow_mod),
            ("effort", effort_mod),
            ("paradox", paradox),
        )
    }
    # Flow is the derivative of lung volume; the belts follow volume, the chest slightly ahead.
    flow = 250.0 * up["tidal"] * up["flow"] * np.sin(_breath_angle(ph))
    thorax = -300.0 * up["tidal"] * up["effort"] * np.cos(_breath_angle(ph - np.float32(0.2)))
    abdomen = -260.0 * up["tidal"] * up["effort"] * (1 - 2 * up["paradox"])
    abdomen *= np.cos(_breath_angle(ph - np.float32(0.35)))
    noise = [3.0 * spectral_noise(n, fs, band(0.5, 0.4 * fs, 0.5), rng) for _ in range(3)]
    return (
        (flow + noise[0]).astype(np.float32),
        (thorax + noise[1]).astype(np.float32),
        (abdomen + noise[2]).astype(np.float32),
    )


def spo2(tl: Timeline, subject: Subject, found: list[RespiratoryEvent], rng) -> np.ndarray:
    """Oxygen saturation in % at 1 Hz, rounded to whole percent like a pulse oximeter."""
    seconds = int(tl.duration_s)
    t = np.arange(seconds, dtype=np.float32)
    rem_dip = upsample(tl.is_stage(REM), 1.0)[:seconds] * 0.6
    level = (
        subject.spo2_baseline
        - rem_dip
        + 0.4 * spectral_noise(seconds, 1.0, band(0.002, 0.05, 0.002), rng)
    )
    depth_range = {
        "Obstructive apnea": (3.5, 8.0),
        "Central apnea": (3.0, 6.0),
        "Hypopnea": (3.0, 4.5),
    }
    for ev in found:
        depth = rng.uniform(*depth_range[ev.kind])
        fall_start, nadir = ev.onset_s + 10.0, ev.onset_s + ev.duration_s + 20.0
        falling = np.clip((t - fall_start) / (nadir - fall_start), 0, 1)
        recovering = np.exp(-np.clip(t - nadir, 0, None) / 8.0)
        dip = depth * (0.5 - 0.5 * np.cos(np.pi * falling)) * np.where(t > nadir, recovering, 1.0)
        level -= dip.astype(np.float32)
    return np.clip(np.round(level), 50, 100).astype(np.float32)
