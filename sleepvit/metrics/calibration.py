"""Temperature scaling and expected calibration error (ECE).

A confidence of 0.9 should be right 9 times in 10: technicians review the low-confidence
epochs first, so an over-confident model hides its mistakes. Temperature scaling (Guo et
al., 2017) divides the logits by one scalar ``T`` fitted on validation nights; it never
changes the chosen stage of a single softmax, only how sure the model says it is.

The fit takes a function ``probabilities_at(T)`` rather than logits because the product's
probabilities are the sequence model's average over sliding windows, each window's logits
divided by ``T`` (:func:`sleepvit.models.sequence.sequence_probabilities`); fitting through
the very function that scores nights keeps the fitted ``T`` and its use identical. Numpy and
scipy only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize_scalar

ECE_BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)
_EPS = 1e-12

ProbabilitiesAt = Callable[[float], np.ndarray]
"""``T -> probabilities [n_epochs, n_classes]`` of the validation epochs at temperature T."""


def _scored(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop unscored epochs (label < 0), which no metric counts."""
    labels = np.asarray(labels)
    keep = labels >= 0
    return np.asarray(probabilities)[keep], labels[keep].astype(np.int64)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean ``-log p(true stage)`` over scored epochs."""
    p, y = _scored(probabilities, labels)
    if y.size == 0:
        return float("nan")
    return float(-np.log(np.clip(p[np.arange(y.size), y], _EPS, 1.0)).mean())


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """ECE: confidence-vs-accuracy gap averaged over ``n_bins`` equal-width confidence bins.

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    >>> round(expected_calibration_error(p, np.array([0, 1, 0, 0])), 3)
    0.4
    """
    p, y = _scored(probabilities, labels)
    if y.size == 0:
        return float("nan")
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    # Right-closed bins (0, 1/n], ..., so a confidence of exactly 1 falls in the last one.
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    gap = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            gap += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(gap)


def fit_temperature(probabilities_at: ProbabilitiesAt, labels: np.ndarray) -> float:
    """Temperature in :data:`TEMPERATURE_RANGE` minimising the negative log-likelihood.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 5, 2000)
    >>> guess = np.where(rng.random(2000) < 0.6, y, rng.integers(0, 5, 2000))
    >>> from sleepvit.models.backends import softmax
    >>> logits = 8.0 * np.eye(5)[guess]  # 60 % right, ~100 % sure
    >>> fit_temperature(lambda t: softmax(logits, t), y) > 1
    True
    """
    labels = np.asarray(labels)
    if not (labels >= 0).any():
        return 1.0
    # Optimise log T: the likelihood is smooth and unimodal in it, and T stays positive.
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(probabilities_at(float(np.exp(log_t))), labels),
        bounds=tuple(np.log(TEMPERATURE_RANGE)),
        method="bounded",
        options={"xatol": 0.01},  # T to about 1 %: finer changes no ECE visibly
    )
    return float(np.exp(result.x))


def calibration_summary(
    probabilities_at: ProbabilitiesAt, labels: np.ndarray, temperature: float
) -> dict[str, float]:
    """ECE and NLL before (T = 1) and after ``temperature`` (for the metrics JSON and card)."""
    before, after = probabilities_at(1.0), probabilities_at(temperature)
    return {
        "temperature": float(temperature),
        "ece_bins": ECE_BINS,
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "nll_before": negative_log_likelihood(before, labels),
        "nll_after": negative_log_likelihood(after, labels),
    }
