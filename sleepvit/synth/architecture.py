"""Sleep architecture: sample realistic hypnograms from statistics of real expert scorings.

A semi-Markov model over bouts: the next stage is drawn from transition counts of the
real nights for the current time of night and the time since the last REM period (which
produces the ~90-min NREM-REM cycles, deep sleep early and long REM periods late); each
bout's length is drawn from the real bout-length distribution of its stage at that time
of night. Sleep onset latency and the final awakening are added around the sleep period,
so a night runs from lights off to lights on.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from sleepvit.hypnogram import STAGE_CODE
from sleepvit.synth.derive_stats import STATS_PATH, hour_bin, since_rem_bin

W, N3, REM = STAGE_CODE["W"], STAGE_CODE["N3"], STAGE_CODE["REM"]
EPOCHS_PER_MINUTE = 2
MAX_WAKE_BOUT_MIN = 30
"""Longest awakening inside the sleep period: the real set includes insomnia nights whose
hour-long awakenings would make poor typical clinical nights."""


@lru_cache(maxsize=1)
def _model() -> dict:
    stats = json.loads(STATS_PATH.read_text())
    counts = np.array(stats["transitions"], dtype=np.float64)
    # Sparse cells borrow from the same hour bin pooled over the since-REM bins.
    pooled = counts.sum(axis=1, keepdims=True)
    pooled = pooled / np.maximum(pooled.sum(axis=-1, keepdims=True), 1)
    probabilities = counts + 2.0 * pooled
    probabilities /= np.maximum(probabilities.sum(axis=-1, keepdims=True), 1e-12)
    quantiles = np.array([stats["bout_length_quantiles_epochs"][s] for s in stats["stages"]])
    first = np.array(stats["first_sleep_stage_counts"], dtype=np.float64)
    return {
        "transitions": probabilities,
        "bout_quantiles": quantiles,
        "levels": np.array(stats["quantile_levels"]),
        "first": first / first.sum(),
    }


def _bout_length(stage: int, epoch: int, rng: np.random.Generator) -> int:
    m = _model()
    length = np.interp(rng.random(), m["levels"], m["bout_quantiles"][stage, hour_bin(epoch)])
    if stage == W:
        length = min(length, MAX_WAKE_BOUT_MIN * EPOCHS_PER_MINUTE)
    return max(1, int(round(length)))


def sample_sleep_period(
    n_epochs: int, rng: np.random.Generator, deep_sleep: float = 1.0
) -> np.ndarray:
    """Stages from sleep onset for ``n_epochs`` epochs (the night's sleep period).

    ``deep_sleep`` multiplies the odds of entering N3 (young sleepers > 1, old < 1).
    """
    m = _model()
    odds = np.ones(5)
    odds[N3] = deep_sleep
    out = np.empty(n_epochs, dtype=np.int8)
    stage = int(rng.choice(5, p=m["first"]))
    epoch, since_rem = 0, 0
    while epoch < n_epochs:
        length = _bout_length(stage, epoch, rng)
        out[epoch : epoch + length] = stage
        since_rem = 0 if stage == REM else since_rem + length
        p = m["transitions"][hour_bin(epoch), since_rem_bin(since_rem), stage] * odds
        p /= p.sum()
        epoch += length
        stage = int(rng.choice(5, p=p))
    return out


def sample_stages(hours: float, rng: np.random.Generator, deep_sleep: float = 1.0) -> np.ndarray:
    """A whole night from lights off to lights on: latency, sleep period, final awakening.

    ``deep_sleep`` scales the odds of entering N3 (see :func:`sample_sleep_period`).

    Examples
    --------
    >>> stages = sample_stages(8.0, np.random.default_rng(0))
    >>> stages.size, int(stages[0])
    (960, 0)
    """
    n = max(1, int(round(hours * 60 * EPOCHS_PER_MINUTE)))
    # The real files are cut to 30 min of wake around the sleep period, so they cannot tell
    # the latency or the final awakening: log-normal priors (median 12 and 6 min) stand in.
    latency = np.clip(np.exp(rng.normal(np.log(12), 0.5)), 3, 35) * EPOCHS_PER_MINUTE
    final_wake = np.clip(np.exp(rng.normal(np.log(6), 0.7)), 1, 25) * EPOCHS_PER_MINUTE
    # Short test nights keep at least half of their time for sleep.
    squeeze = min(1.0, 0.5 * n / (latency + final_wake))
    latency, final_wake = int(latency * squeeze), int(final_wake * squeeze)
    stages = np.full(n, W, dtype=np.int8)
    period = n - latency - final_wake
    if period > 0:
        stages[latency : latency + period] = sample_sleep_period(period, rng, deep_sleep)
    return stages
