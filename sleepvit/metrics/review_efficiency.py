"""Review efficiency: how much of a night a technician must check before the scoring is right.

The technician reviews the epochs the model doubts most first and corrects each one to the
true stage; the question a lab asks is how many epochs that takes before the corrected night
agrees with an expert (Cohen's κ 0.80 or 0.90). Bechny et al. (2024, Nature and Science of
Sleep) report that with U-Sleep reviewing the most uncertain < 29 % of epochs reached κ ≥ 0.90.

:func:`review_curve` gives κ after correcting the first ``k`` % of epochs in doubt order, for
``k = 0 .. 100``; :func:`review_fraction` the smallest share of epochs that reaches a κ;
:func:`review_efficiency` both, as plain numbers for JSON. ``UNS`` epochs (of either scoring)
are left out, as :func:`~sleepvit.metrics.agreement.agreement` leaves them out. The corrected
confusion matrix is updated one epoch at a time, so a whole night's curve costs ``O(n)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sleepvit.hypnogram import STAGES, UNS

KAPPA_GOALS = (0.80, 0.90)
"""The agreements a review is asked to reach (good and expert-level)."""
CURVE_PERCENTS = tuple(range(101))
"""Shares of the night reviewed at which the curve is reported (percent)."""


def _kappa(cm: np.ndarray) -> float:
    """Cohen's κ of a confusion matrix; 1 when both scorings are one and the same stage."""
    total = cm.sum()
    observed = np.trace(cm) / total
    chance = float(cm.sum(axis=1) @ cm.sum(axis=0)) / total**2
    if np.isclose(chance, 1.0):
        return 1.0 if np.isclose(observed, 1.0) else 0.0
    return float((observed - chance) / (1.0 - chance))


def _scored(truth, predicted, doubt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    truth = np.asarray(truth, np.int64).ravel()
    predicted = np.asarray(predicted, np.int64).ravel()
    doubt = np.nan_to_num(np.asarray(doubt, np.float64).ravel(), nan=np.inf)
    if not truth.shape == predicted.shape == doubt.shape:
        raise ValueError(
            f"truth, predicted and doubt cover different epochs "
            f"({truth.size}, {predicted.size}, {doubt.size})"
        )
    keep = (truth != UNS) & (predicted != UNS)
    if not keep.any():
        raise ValueError("no epoch is scored in both hypnograms")
    return truth[keep], predicted[keep], doubt[keep]


def kappa_after_review(truth, predicted, doubt) -> np.ndarray:
    """κ after correcting the ``k`` most doubtful epochs, for ``k = 0 .. n`` (``[n + 1]``).

    ``doubt``: higher = reviewed sooner; ties keep time order; NaN doubt is reviewed first.

    >>> kappa_after_review([0, 0, 2, 2], [0, 2, 2, 2], [0.1, 0.9, 0.2, 0.3]).round(2).tolist()
    [0.5, 1.0, 1.0, 1.0, 1.0]
    """
    truth, predicted, doubt = _scored(truth, predicted, doubt)
    n_classes = len(STAGES)
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (truth, predicted), 1)
    kappas = np.empty(truth.size + 1)
    kappas[0] = _kappa(cm)
    for k, epoch in enumerate(np.argsort(-doubt, kind="stable"), start=1):
        cm[truth[epoch], predicted[epoch]] -= 1
        cm[truth[epoch], truth[epoch]] += 1
        kappas[k] = _kappa(cm)
    return kappas


def review_curve(truth, predicted, doubt, percents=CURVE_PERCENTS) -> list[float]:
    """κ after correcting the most doubtful ``k`` % of the scored epochs, per ``k`` in
    ``percents`` (``k`` % of ``n`` epochs rounds up to whole epochs).

    >>> truth = [0, 0, 2, 2, 4, 4]; predicted = [0, 2, 2, 2, 4, 0]
    >>> [round(k, 2) for k in review_curve(truth, predicted, [0, .9, 0, 0, 0, .8], (0, 10, 50))]
    [0.5, 0.75, 1.0]
    """
    return _at_percents(kappa_after_review(truth, predicted, doubt), percents)


def _at_percents(kappas: np.ndarray, percents) -> list[float]:
    n = kappas.size - 1
    return [float(kappas[int(np.ceil(n * p / 100 - 1e-9))]) for p in percents]


def _share_reaching(kappas: np.ndarray, goal: float) -> float:
    # The curve is not monotone (a correction can lower κ), so the first k that reaches it.
    return float(np.flatnonzero(kappas >= goal - 1e-12)[0] / (kappas.size - 1))


def review_fraction(truth, predicted, doubt, goal: float = 0.90) -> float:
    """Smallest share of the scored epochs that, corrected most doubtful first, brings κ to
    ``goal``; 0 when the scoring already reaches it.

    A perfect ranking (the wrong epochs first) needs exactly the share of errors:

    >>> truth = np.array([0, 0, 2, 2, 4, 4]); predicted = np.array([0, 2, 2, 2, 4, 0])
    >>> review_fraction(truth, predicted, predicted != truth, goal=1.0)
    0.3333333333333333
    >>> review_fraction(truth, predicted, predicted == truth, goal=1.0)  # the worst ranking
    1.0
    """
    return _share_reaching(kappa_after_review(truth, predicted, doubt), goal)


def review_efficiency(truth, predicted, doubt, goals=KAPPA_GOALS) -> dict:
    """κ before review, the review curve (:data:`CURVE_PERCENTS`) and the share needed for
    each κ goal (``review_for_kappa_080`` …), as plain numbers for JSON.

    >>> result = review_efficiency([0, 0, 2, 2], [0, 2, 2, 2], [0.1, 0.9, 0.2, 0.3])
    >>> result["kappa"], result["review_for_kappa_090"], result["curve"][25]
    (0.5, 0.25, 1.0)
    """
    kappas = kappa_after_review(truth, predicted, doubt)
    result = {
        "epochs": int(kappas.size - 1),
        "kappa": float(kappas[0]),
        "curve_percent": list(CURVE_PERCENTS),
        "curve": _at_percents(kappas, CURVE_PERCENTS),
    }
    for goal in goals:
        result[goal_key(goal)] = _share_reaching(kappas, goal)
    return result


def goal_key(goal: float) -> str:
    """JSON key of the share needed for a κ goal.

    >>> goal_key(0.9)
    'review_for_kappa_090'
    """
    return f"review_for_kappa_{round(100 * goal):03d}"


Night = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(truth, predicted, doubt)`` of one night's epochs."""


def review_table(night_sets: Mapping[str, Sequence[Night]], goals=KAPPA_GOALS) -> dict:
    """:func:`review_efficiency` of every night set (epochs of its nights pooled) and of all
    sets pooled (key ``"pooled"``): what ``sleepvit evaluate`` and the benchmarks report.

    >>> night = (np.array([0, 0, 2, 2]), np.array([0, 2, 2, 2]), np.array([.1, .9, .2, .3]))
    >>> table = review_table({"a": [night], "b": [night, night]})
    >>> list(table), table["pooled"]["epochs"], table["b"]["review_for_kappa_090"]
    (['a', 'b', 'pooled'], 12, 0.25)
    """
    if "pooled" in night_sets:
        raise ValueError("'pooled' is the name of all night sets together; rename that set")

    def pooled(nights: Sequence[Night]) -> dict:
        return review_efficiency(*(np.concatenate(p) for p in zip(*nights, strict=True)), goals)

    table = {name: pooled(nights) for name, nights in night_sets.items()}
    table["pooled"] = pooled([night for nights in night_sets.values() for night in nights])
    return table


def format_review_table(table: Mapping[str, dict], goals=KAPPA_GOALS) -> str:
    """The review-efficiency table as text for the terminal: κ before review, the share of
    epochs to review for each goal, and κ after reviewing 10 %, 25 % and 50 %.

    >>> night = (np.array([0, 0, 2, 2]), np.array([0, 2, 2, 2]), np.array([.1, .9, .2, .3]))
    >>> print(format_review_table(review_table({"sim": [night]})))
    night set        epochs     κ review→κ0.80 review→κ0.90 κ@10% κ@25% κ@50%
    sim                   4 0.500       25.0 %       25.0 % 1.000 1.000 1.000
    pooled                4 0.500       25.0 %       25.0 % 1.000 1.000 1.000
    """
    head = f"{'night set':<15}{'epochs':>8}{'κ':>6}" + "".join(
        f"{f'review→κ{goal:.2f}':>13}" for goal in goals
    )
    lines = [head + "".join(f"{f'κ@{p}%':>6}" for p in (10, 25, 50))]
    for name, row in table.items():
        lines.append(
            f"{name[:15]:<15}{row['epochs']:>8} {row['kappa']:.3f}"
            + "".join(f"{100 * row[goal_key(goal)]:>11.1f} %" for goal in goals)
            + "".join(f" {row['curve'][p]:.3f}" for p in (10, 25, 50))
        )
    return "\n".join(lines)
