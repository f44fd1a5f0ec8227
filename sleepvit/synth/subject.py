"""The simulated sleeper: per-night traits that make every seed look like another person."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Subject:
    """Traits drawn once per night; every generator scales its output by them.

    Examples
    --------
    >>> s = Subject.draw(np.random.default_rng(1))
    >>> 8.0 <= s.alpha_hz <= 12.0 and 40 <= s.heart_rate_bpm <= 90
    True
    """

    age: float
    eeg_scale: float
    """Overall EEG amplitude (skull thickness, electrode placement)."""
    slow_wave_scale: float
    """Slow-wave amplitude; falls with age."""
    alpha_hz: float
    alpha_scale: float
    spindle_hz: float
    spindles_per_min: float
    kcomplexes_per_min: float
    emg_scale: float
    heart_rate_bpm: float
    hrv_scale: float
    ecg_r_uv: float
    breaths_per_min: float
    ahi: float
    """Apnoea-hypopnoea events per hour of sleep."""
    artifact_load: float
    """Multiplies the rate of electrode pops, movements and sweat sway."""
    mains_hz: float
    mains_uv: float
    eyes_open_prob: float
    """Share of wake spent with eyes open (alpha blocked, reading saccades)."""
    plm_per_hour: float
    """Periodic leg movements per hour of N1/N2 (0 for most sleepers)."""
    spo2_baseline: float
    rem_atonia: float = 1.0
    """Share of the chin tone lost in REM: 1 = normal atonia, 0 = REM without atonia (RBD)."""
    # Physiology the training corpus randomises per night (1 / 0 = the simulator's textbook
    # sleeper): a model must not learn one sleeper's exact theta, delta or spindle levels.
    theta_scale: float = 1.0
    """Theta amplitude in every stage."""
    delta_scale: float = 1.0
    """Delta amplitude outside N3 (N3 keeps the slow waves its AASM rule needs)."""
    fast_delta_scale: float = 1.0
    """2-4 Hz amplitude in every stage."""
    beta_scale: float = 1.0
    spindle_amplitude: float = 1.0
    ocular_leak: float = 0.0
    """Eye movements and blinks reaching the EEG electrodes, × each site's propagation
    (:data:`sleepvit.synth.eeg.OCULAR_PROPAGATION`); 0 = clean EEG."""

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Subject:
        age = float(rng.uniform(20, 75))
        youth = (75 - age) / 55  # 1 at 20 y, 0 at 75 y
        return cls(
            age=age,
            eeg_scale=float(rng.uniform(0.8, 1.2)),
            slow_wave_scale=float(0.85 + 0.4 * youth + rng.uniform(-0.05, 0.05)),
            alpha_hz=float(rng.uniform(8.5, 11.5)),
            alpha_scale=float(rng.uniform(0.55, 1.4)),
            spindle_hz=float(rng.uniform(12.2, 14.0)),
            spindles_per_min=float(rng.uniform(3.0, 5.0) + 3.0 * youth),
            kcomplexes_per_min=float(rng.uniform(0.8, 2.5)),
            emg_scale=float(np.exp(rng.normal(0, 0.25))),
            heart_rate_bpm=float(rng.uniform(54, 78)),
            hrv_scale=float(rng.uniform(0.5, 1.5) * (0.6 + 0.6 * youth)),
            ecg_r_uv=float(rng.uniform(500, 1100)),
            breaths_per_min=float(rng.uniform(12, 17)),
            ahi=float(np.clip(np.exp(rng.normal(1.2 + 1.2 * (1 - youth), 0.9)), 0, 45)),
            artifact_load=float(np.exp(rng.normal(0, 0.6))),
            mains_hz=float(rng.choice([50.0, 60.0])),
            mains_uv=float(np.exp(rng.normal(-0.7, 0.6))),
            eyes_open_prob=float(rng.uniform(0.15, 0.6)),
            plm_per_hour=float(rng.uniform(5, 40) if rng.random() < 0.25 else 0.0),
            spo2_baseline=float(rng.uniform(94.0, 98.0)),
        )
