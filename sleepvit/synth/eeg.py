"""Cortical EEG: background rhythms and graphoelements by AASM stage, mixed per scalp site.

Each component (1/f background, alpha, beta, theta, fast and slow delta, spindles, K-complexes,
vertex sharp waves, sawtooth waves) is generated once for the whole night and reaches
every derivation with a site-specific gain: alpha is largest occipitally, spindles and
vertex waves centrally, K-complexes and slow waves frontally. Frontal EEG also leaks
into the eye electrodes, as in real recordings.

Amplitudes are standard deviations (noise-like components) or peak values (events) in µV
at gain 1.
"""

from __future__ import annotations

import numpy as np

from sleepvit.synth import events
from sleepvit.synth.noise import band, peak, pink, spectral_noise
from sleepvit.synth.subject import Subject
from sleepvit.synth.timeline import N1, Timeline, W, by_stage, upsample

COMPONENTS = (
    "background",
    "alpha",
    "beta",
    "theta",
    "delta",
    "fast_delta",
    "spindle",
    "kcomplex",
    "vertex",
    "sawtooth",
)

SITE_GAINS: dict[str, dict[str, float]] = {
    "frontal": dict(
        background=1.0,
        alpha=0.3,
        beta=1.0,
        theta=0.9,
        delta=1.0,
        fast_delta=1.0,
        spindle=0.7,
        kcomplex=1.0,
        vertex=0.65,
        sawtooth=0.85,
    ),
    "central": dict(
        background=1.0,
        alpha=0.5,
        beta=0.8,
        theta=1.0,
        delta=0.8,
        fast_delta=0.85,
        spindle=1.0,
        kcomplex=0.75,
        vertex=1.0,
        sawtooth=1.0,
    ),
    "occipital": dict(
        background=0.9,
        alpha=1.0,
        beta=0.5,
        theta=0.7,
        delta=0.55,
        fast_delta=0.6,
        spindle=0.35,
        kcomplex=0.4,
        vertex=0.4,
        sawtooth=0.5,
    ),
    "fpz-cz": dict(
        background=0.9,
        alpha=0.3,
        beta=0.8,
        theta=0.85,
        delta=0.9,
        fast_delta=0.9,
        spindle=0.85,
        kcomplex=0.9,
        vertex=0.7,
        sawtooth=0.8,
    ),
    "pz-oz": dict(
        background=0.8,
        alpha=0.95,
        beta=0.4,
        theta=0.6,
        delta=0.5,
        fast_delta=0.55,
        spindle=0.4,
        kcomplex=0.35,
        vertex=0.35,
        sawtooth=0.45,
    ),
    # What a referential eye electrode picks up from the frontal cortex (in phase on E1 and E2).
    "eye": dict(
        background=0.35,
        alpha=0.1,
        beta=0.5,
        theta=0.35,
        delta=0.75,
        fast_delta=0.6,
        spindle=0.15,
        kcomplex=0.75,
        vertex=0.3,
        sawtooth=0.3,
    ),
}
"""Gain of each component at each recording site (derivation against the mastoid)."""

OCULAR_PROPAGATION: dict[str, float] = {
    "frontal": 0.3,
    "fpz-cz": 0.4,
    "central": 0.15,
    "occipital": 0.04,
    "pz-oz": 0.03,
    "eye": 0.0,
}
"""Share of the eye's vertical (blink) potential seen at each site against the mastoid: it
falls from the forehead backwards (Croft & Barry 2000 report 0.2–0.5 frontally, 0.1–0.2
centrally); scaled per night by :attr:`Subject.ocular_leak`."""


def _rhythms(tl: Timeline, s: Subject, fs: float, n: int, rng) -> dict[str, np.ndarray]:
    scale = s.eeg_scale
    n1_alpha = tl.gate_segments(N1, (0.05, 0.45)) + 0.1 * tl.is_stage(N1)
    wake = tl.is_stage(W)
    alpha_gate = wake * (1.0 - 0.8 * tl.eyes_open) + n1_alpha + (1.0 - wake - tl.is_stage(N1))
    waxing = 1.0 + 0.35 * spectral_noise(tl.n_ctrl, 4.0, band(0.05, 0.4, 0.05), rng)
    alpha_gate = np.clip(alpha_gate * waxing, 0, None)
    # Every N3 epoch must meet the AASM rule (>= 20 % of waves > 75 uV peak to peak at a frontal
    # lead), however small this sleeper's EEG: the floor keeps the label true. Above the floor,
    # N3 stays as light as the rule allows: real N3 at central leads is lighter still.
    n3_level = max(35.0, (25.0 + 10.0 * s.slow_wave_scale) * scale)
    light_delta = np.array([2, 5, 12 * s.slow_wave_scale * scale, 0, 5]) * s.delta_scale
    envelopes = {
        "background": (
            pink(1.3, 0.3, 45.0),
            tl.envelope(by_stage(7, 8, 11, 12, 8) * scale, 0.1),
        ),
        "alpha": (
            peak(s.alpha_hz, 0.45),
            tl.envelope(
                by_stage(16, 13, 0.8, 0.8, 2.5) * s.alpha_scale * scale,
                0.15,
                gate=alpha_gate,
                arousal_level=12 * s.alpha_scale * scale,
            ),
        ),
        "beta": (
            band(16.0, 30.0, 2.0),
            tl.envelope(
                by_stage(4, 2.5, 1.5, 1.2, 2.5) * s.beta_scale * scale, 0.2, arousal_level=5 * scale
            ),
        ),
        "theta": (
            band(4.0, 7.5, 1.0),
            tl.envelope(by_stage(2.5, 5, 5.5, 4.5, 6) * s.theta_scale * scale, 0.15),
        ),
        "delta": (
            band(0.5, 2.0, 0.3),
            # An arousal interrupts slow waves only partly: N3 stays N3 through a brief one.
            tl.envelope(by_stage(*light_delta[:3], n3_level, light_delta[4]), 0.1)
            * (1.0 - 0.4 * tl.arousal),
        ),
        # Real sleep EEG carries as much 2-4 Hz as theta in N1-N3: without it, a model
        # learns that anything between the slow waves and theta is not sleep.
        "fast_delta": (
            band(2.0, 4.0, 1.0),
            tl.envelope(by_stage(3, 7, 10, 12, 5) * s.fast_delta_scale * scale, 0.15)
            * (1.0 - 0.4 * tl.arousal),
        ),
    }
    return {
        name: spectral_noise(n, fs, gain, rng) * upsample(env, fs)[:n]
        for name, (gain, env) in envelopes.items()
    }


def _graphoelements(tl: Timeline, s: Subject, fs: float, n: int, rng) -> dict[str, np.ndarray]:
    quiet = 1.0 - tl.arousal  # no spindles or K-complexes while aroused
    out = {
        name: np.zeros(n, dtype=np.float32)
        for name in ("spindle", "kcomplex", "vertex", "sawtooth")
    }
    per_min = 1 / 60.0
    spindle_rate = tl.rate(by_stage(0, 0.05, 1.0, 0.35, 0) * s.spindles_per_min * per_min)
    for t in events.poisson_times(spindle_rate * quiet, rng):
        wave = events.spindle(
            fs,
            s.spindle_hz + rng.normal(0, 0.4),
            rng.uniform(0.6, 1.8),
            rng.uniform(16, 30) * s.eeg_scale * s.spindle_amplitude,
            rng,
        )
        events.add_waveform(out["spindle"], fs, t, wave)
    kc_rate = tl.rate(by_stage(0, 0.05, 1.0, 0.25, 0) * s.kcomplexes_per_min * per_min)
    for t in events.poisson_times(kc_rate * quiet, rng):
        depth = rng.uniform(70, 140) * s.slow_wave_scale * s.eeg_scale
        events.add_waveform(
            out["kcomplex"], fs, t, events.k_complex(fs, depth, rng.uniform(0.55, 1.0))
        )
        if rng.random() < 0.4:  # K-complexes are often followed by a spindle
            wave = events.spindle(fs, s.spindle_hz, rng.uniform(0.6, 1.2), rng.uniform(8, 16), rng)
            events.add_waveform(out["spindle"], fs, t + 0.8, wave)
    vertex_rate = tl.rate(by_stage(0, 7, 1, 0, 0.3) * per_min)
    for t in events.poisson_times(vertex_rate * quiet, rng):
        wave = events.vertex_wave(fs, rng.uniform(40, 85) * s.eeg_scale, rng.uniform(0.2, 0.35))
        events.add_waveform(out["vertex"], fs, t, wave)
    sawtooth_rate = tl.rate(by_stage(0, 0, 0, 0, 2.0) * per_min) + 2.5 * per_min * tl.rem_phasic
    for t in events.poisson_times(sawtooth_rate * quiet, rng):
        wave = events.sawtooth_train(
            fs, rng.uniform(2.0, 5.0), int(rng.integers(3, 9)), rng.uniform(18, 35) * s.eeg_scale
        )
        events.add_waveform(out["sawtooth"], fs, t, wave)
    return out


def cortical_sources(tl: Timeline, subject: Subject, fs: float, rng: np.random.Generator):
    """Every EEG component of the night at ``fs`` Hz, already shaped by its stage envelope."""
    n = int(round(tl.duration_s * fs))
    return _rhythms(tl, subject, fs, n, rng) | _graphoelements(tl, subject, fs, n, rng)


def site_signal(sources: dict[str, np.ndarray], site: str, gain_jitter: np.ndarray) -> np.ndarray:
    """The cortical signal seen at ``site``: the sum of components times the site's gains.

    ``gain_jitter`` (one factor per component) makes homologous derivations differ a little.
    """
    gains = SITE_GAINS[site]
    out = np.zeros_like(sources["background"])
    term = np.empty_like(out)
    for factor, name in zip(gain_jitter, COMPONENTS, strict=True):
        np.multiply(sources[name], np.float32(gains[name] * factor), out=term)
        out += term
    return out


def local_noise_pool(duration_s: float, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Unit 1/f noise from which every derivation takes its own local background."""
    return spectral_noise(int(round(duration_s * fs)), fs, pink(1.0, 0.3, 45.0), rng)


def local_envelope(tl: Timeline, subject: Subject, fs: float) -> np.ndarray:
    """Amplitude of each derivation's local background at ``fs`` Hz."""
    return upsample(tl.envelope(by_stage(3, 3.5, 4, 4.5, 3) * subject.eeg_scale), fs)


def electrode_noise(pool: np.ndarray, envelope: np.ndarray, rng) -> np.ndarray:
    """Background activity local to one derivation: decorrelates homologous channels.

    Each derivation reads the shared ``pool`` from its own random offset; 1/f noise above
    0.3 Hz forgets itself within seconds, so the copies are as good as independent.
    """
    local = np.roll(pool, int(rng.integers(pool.size)))
    local *= envelope[: pool.size]
    return local
