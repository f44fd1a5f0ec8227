"""The night's state over time at a coarse control rate: stage, arousals, eyes open.

Every generator derives its amplitude envelopes and event rates from one
:class:`Timeline`, so that all channels agree on when the sleeper is in which state.
Envelopes are smoothed over a few seconds: stages change gradually, as in real
recordings, not with hard switches at epoch boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleepvit.hypnogram import STAGE_CODE, UNS
from sleepvit.slots import EPOCH_SECONDS

CTRL_FS = 4.0
"""Control rate in Hz: envelopes and event rates are computed on this grid."""
_CTRL_PER_EPOCH = int(EPOCH_SECONDS * CTRL_FS)
_TRANSITION_S = 6.0

W, N1, N2, N3, REM = (STAGE_CODE[s] for s in ("W", "N1", "N2", "N3", "REM"))


def by_stage(w: float, n1: float, n2: float, n3: float, rem: float) -> np.ndarray:
    """One value per stage code, in the order W, N1, N2, N3, REM of ``sleepvit.hypnogram``.

    Examples
    --------
    >>> by_stage(1, 2, 3, 4, 5)[REM].item()
    5.0
    """
    return np.array([w, n1, n2, n3, rem], dtype=np.float32)


def smooth(x: np.ndarray, seconds: float) -> np.ndarray:
    """Hann-window moving average over ``seconds`` of a control-rate array (edges held)."""
    taps = max(int(seconds * CTRL_FS), 1)
    if taps == 1:
        return x.astype(np.float32)
    kernel = np.hanning(taps + 2)[1:-1]
    kernel /= kernel.sum()
    padded = np.pad(x, (taps // 2, taps - 1 - taps // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid").astype(np.float32)


def upsample(ctrl: np.ndarray, fs: float) -> np.ndarray:
    """Linear interpolation of a control-rate array to ``fs`` Hz (float32).

    Examples
    --------
    >>> upsample(np.array([0.0, 4.0], dtype=np.float32), 8.0).tolist()
    [0.0, 2.0, 4.0, 4.0]
    """
    ratio = fs / CTRL_FS
    n_out = int(round(ctrl.size * ratio))
    if ratio >= 1 and ratio == int(ratio):
        r = int(ratio)
        nxt = np.append(ctrl[1:], ctrl[-1]).astype(np.float32)
        frac = (np.arange(r, dtype=np.float32) / r)[None, :]
        ctrl = ctrl.astype(np.float32, copy=False)
        out = (nxt - ctrl)[:, None] * frac
        out += ctrl[:, None]
        return out.reshape(-1)
    t_out = np.arange(n_out) / ratio
    return np.interp(t_out, np.arange(ctrl.size), ctrl).astype(np.float32)


@dataclass
class Timeline:
    """Stage and state per control sample (``CTRL_FS`` Hz) of one night."""

    stages: np.ndarray
    """Stage code per 30-s epoch (UNS allowed: simulated as wake)."""
    stage_ctrl: np.ndarray
    """Stage code per control sample, UNS replaced by W."""
    arousal: np.ndarray
    """0..1 per control sample: a cortical arousal (alpha, EMG, heart rate up)."""
    eyes_open: np.ndarray
    """0..1 per control sample during wake."""
    rem_phasic: np.ndarray
    """0/1 per control sample: phasic REM (bursts of eye movements, twitches, sawtooth)."""
    arousals: list[tuple[float, float]]
    """(onset_s, duration_s) of every arousal."""
    rng: np.random.Generator

    @property
    def n_ctrl(self) -> int:
        return int(self.stage_ctrl.size)

    @property
    def duration_s(self) -> float:
        return self.stages.size * EPOCH_SECONDS

    def epoch_values(self, values: np.ndarray) -> np.ndarray:
        """Repeat one value per epoch onto the control grid (no smoothing)."""
        return np.repeat(np.asarray(values, dtype=np.float32), _CTRL_PER_EPOCH)

    def envelope(
        self,
        per_stage,
        jitter: float = 0.0,
        gate: np.ndarray | None = None,
        arousal_level: float | None = None,
    ) -> np.ndarray:
        """A smooth amplitude envelope: one level per stage, varied per epoch.

        ``jitter`` is the log-normal spread of the level from epoch to epoch; ``gate``
        (per control sample) switches the component on and off within epochs; during
        arousals the envelope moves towards ``arousal_level``.
        """
        raw = np.asarray(per_stage, dtype=np.float32)[self.stage_ctrl]
        if jitter:
            spread = np.clip(self.rng.normal(0, jitter, self.stages.size), -2 * jitter, 2 * jitter)
            raw = raw * self.epoch_values(np.exp(spread))
        if gate is not None:
            raw = raw * gate
        env = smooth(raw, _TRANSITION_S)
        if arousal_level is not None:
            env = env + (np.float32(arousal_level) - env) * self.arousal
        return env

    def rate(self, per_stage) -> np.ndarray:
        """Smoothed event rate (events per second) per control sample."""
        return smooth(np.asarray(per_stage, dtype=np.float32)[self.stage_ctrl], _TRANSITION_S)

    def is_stage(self, code: int) -> np.ndarray:
        """0..1 per control sample: how far the sleeper is into stage ``code``."""
        return smooth((self.stage_ctrl == code).astype(np.float32), _TRANSITION_S)

    def gate_segments(self, stage: int, on_fraction: tuple[float, float]) -> np.ndarray:
        """1 inside one random contiguous stretch of each epoch of ``stage``, else 0.

        The stretch covers ``on_fraction`` (low, high) of the epoch: e.g. N1 keeps alpha
        for less than half of the epoch.
        """
        gate = np.zeros(self.n_ctrl, dtype=np.float32)
        for epoch in np.flatnonzero(self._plain_stages() == stage):
            length = int(self.rng.uniform(*on_fraction) * _CTRL_PER_EPOCH)
            start = epoch * _CTRL_PER_EPOCH + int(
                self.rng.integers(0, _CTRL_PER_EPOCH - length + 1)
            )
            gate[start : start + length] = 1.0
        return gate

    def _plain_stages(self) -> np.ndarray:
        return np.where(self.stages == UNS, W, self.stages)


def _markov_switch(n: int, p_on: float, mean_on_s: float, rng: np.random.Generator) -> np.ndarray:
    """0/1 process with mean "on" dwell ``mean_on_s`` seconds and long-run share ``p_on``."""
    mean_on = mean_on_s * CTRL_FS
    mean_off = mean_on * (1.0 - p_on) / max(p_on, 1e-3)
    state = np.zeros(n, dtype=np.float32)
    i, on = 0, rng.random() < p_on
    while i < n:
        length = 1 + int(rng.exponential(mean_on if on else mean_off))
        if on:
            state[i : i + length] = 1.0
        i, on = i + length, not on
    return state


def build_timeline(
    stages: np.ndarray,
    rng: np.random.Generator,
    eyes_open_prob: float,
    forced_arousals: list[tuple[float, float]] = (),
) -> Timeline:
    """Place spontaneous arousals (plus ``forced_arousals``, e.g. after apnoeas) and eye state."""
    stages = np.asarray(stages, dtype=np.int8)
    plain = np.where(stages == UNS, W, stages)
    stage_ctrl = np.repeat(plain, _CTRL_PER_EPOCH).astype(np.intp)
    n = stage_ctrl.size

    # Spontaneous arousals per hour by stage (W has none: it is already awake).
    per_hour = np.array([0.0, 20.0, 9.0, 3.0, 7.0], dtype=np.float32)
    counts = rng.poisson(per_hour[stage_ctrl] / 3600.0 / CTRL_FS)
    onsets = (np.repeat(np.flatnonzero(counts), counts[counts > 0]) / CTRL_FS).tolist()
    arousals = [(t, float(rng.uniform(3.0, 15.0))) for t in onsets] + list(forced_arousals)
    arousals.sort()
    indicator = np.zeros(n, dtype=np.float32)
    for onset, duration in arousals:
        indicator[int(onset * CTRL_FS) : int((onset + duration) * CTRL_FS)] = 1.0
    arousal = np.clip(smooth(indicator, 1.5), 0, 1)

    wake = (plain == W).astype(np.float32)
    eyes = _markov_switch(n, eyes_open_prob, 15.0, rng) * np.repeat(wake, _CTRL_PER_EPOCH)
    rem = np.repeat((plain == REM).astype(np.float32), _CTRL_PER_EPOCH)
    rem_phasic = _markov_switch(n, 0.3, 5.0, rng) * rem
    return Timeline(
        stages=stages,
        stage_ctrl=stage_ctrl,
        arousal=arousal,
        eyes_open=smooth(eyes, 1.0),
        rem_phasic=rem_phasic,
        arousals=[(float(o), float(d)) for o, d in arousals],
        rng=rng,
    )
