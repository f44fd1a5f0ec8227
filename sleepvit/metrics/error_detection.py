"""How well an uncertainty signal finds the model's errors: the AUROC of error detection.

An uncertainty signal (1 − confidence, disagreement between two views, …) is useful to a
technician only as far as it ranks the wrong epochs above the right ones. The AUROC is the
chance that a random wrong epoch has more doubt than a random right one (ties count half):
0.5 is a coin, 1 a perfect review queue. It is the Mann–Whitney U statistic over the product
of the two group sizes (scipy), so it needs no classifier library.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import mannwhitneyu

from sleepvit.hypnogram import UNS


def error_auroc(truth, predicted, doubt) -> float | None:
    """AUROC of ``doubt`` (higher = more doubtful) for finding epochs where ``predicted`` is
    not ``truth``; ``UNS`` epochs of either are left out. ``None`` when the night has no error,
    or no right epoch, to tell apart.

    >>> truth = [0, 0, 2, 2, 4]; predicted = [0, 2, 2, 2, 0]
    >>> error_auroc(truth, predicted, [0.1, 0.9, 0.2, 0.3, 0.8])  # both errors rank first
    1.0
    >>> error_auroc(truth, predicted, [0.5, 0.5, 0.5, 0.5, 0.5])  # a constant finds nothing
    0.5
    >>> error_auroc(truth, truth, [0.1, 0.9, 0.2, 0.3, 0.8]) is None
    True
    """
    truth = np.asarray(truth, np.int64).ravel()
    predicted = np.asarray(predicted, np.int64).ravel()
    doubt = np.asarray(doubt, np.float64).ravel()
    if not truth.shape == predicted.shape == doubt.shape:
        raise ValueError(
            f"truth, predicted and doubt cover different epochs "
            f"({truth.size}, {predicted.size}, {doubt.size})"
        )
    keep = (truth != UNS) & (predicted != UNS) & np.isfinite(doubt)
    wrong = predicted[keep] != truth[keep]
    errors, right = doubt[keep][wrong], doubt[keep][~wrong]
    if not errors.size or not right.size:
        return None
    return float(mannwhitneyu(errors, right).statistic / (errors.size * right.size))
