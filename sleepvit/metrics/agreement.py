"""Epoch-by-epoch agreement between two scorings: the one metrics module used everywhere.

Training, ``sleepvit evaluate``, model cards and reports all call :func:`agreement`, so a
κ in the README and a κ in the GUI are the same number.

Conventions (identical to scikit-learn's, which the tests check against):

- Epochs where *either* scoring is ``UNS`` (-1) are dropped before anything is counted.
- The confusion matrix is ``[true × pred]`` over all :data:`~sleepvit.hypnogram.STAGES`,
  whether or not a stage occurs.
- A stage's precision is 0 when it is never predicted, its recall 0 when it never occurs;
  a stage that occurs in neither scoring has no precision, recall or F1 (``None``).
- Macro-F1 averages F1 over the stages that occur in either scoring (scikit-learn's
  ``f1_score(average="macro")`` without ``labels``), so a night without N3 is not
  penalised for the model correctly predicting no N3.
- Cohen's κ is ``None`` when chance agreement is 1 (both scorings use one single stage).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sleepvit.errors import HypnogramError
from sleepvit.hypnogram import STAGES, UNS
from sleepvit.io.atomic import atomic_path


def confusion_matrix(y_true, y_pred, n_classes: int = len(STAGES)) -> np.ndarray:
    """Counts ``[true, pred]`` of integer stage codes; ``UNS`` epochs in either are dropped.

    Examples
    --------
    >>> confusion_matrix([0, 0, 2, -1], [0, 2, 2, 1], n_classes=3).tolist()
    [[1, 0, 1], [0, 0, 0], [0, 0, 1]]
    """
    y_true, y_pred = _scored_pairs(y_true, y_pred)
    if y_true.size and (max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"stage codes must be below {n_classes}")
    flat = y_true.astype(np.int64) * n_classes + y_pred
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def agreement(y_true, y_pred, labels: Sequence[str] = STAGES) -> dict:
    """Accuracy, macro-F1, Cohen's κ, per-stage precision/recall/F1/support and confusion matrix.

    ``y_true`` and ``y_pred`` are integer stage codes (``0 .. len(labels)-1``, ``-1`` = UNS)
    of the same epochs. The result holds plain Python numbers only, so it can be written
    with :func:`json.dump` as it is.

    Examples
    --------
    >>> result = agreement([0, 0, 2, 2, 4, -1], [0, 2, 2, 2, 4, 0])
    >>> result["n_epochs"], round(result["accuracy"], 3), round(result["kappa"], 3)
    (5, 0.8, 0.688)
    >>> result["per_stage"]["N2"]
    {'precision': 0.6666666666666666, 'recall': 1.0, 'f1': 0.8, 'support': 2}
    >>> result["per_stage"]["N3"]["f1"] is None  # N3 occurs in neither scoring
    True
    """
    cm = confusion_matrix(y_true, y_pred, n_classes=len(labels))
    total = int(cm.sum())
    if total == 0:
        raise HypnogramError(
            "no epoch is scored in both hypnograms (all UNS); "
            "compare scorings that share scored epochs"
        )
    true_counts = cm.sum(axis=1)
    pred_counts = cm.sum(axis=0)
    hits = np.diag(cm)

    per_stage: dict[str, dict] = {}
    f1_of_occurring = []
    for k, name in enumerate(labels):
        support = int(true_counts[k])
        if support == 0 and pred_counts[k] == 0:
            per_stage[name] = {"precision": None, "recall": None, "f1": None, "support": 0}
            continue
        precision = float(hits[k] / pred_counts[k]) if pred_counts[k] else 0.0
        recall = float(hits[k] / support) if support else 0.0
        f1 = float(2 * hits[k] / (support + pred_counts[k]))
        per_stage[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        f1_of_occurring.append(f1)

    observed = hits.sum() / total
    chance = float(true_counts @ pred_counts) / total**2
    kappa = None if np.isclose(chance, 1.0) else float((observed - chance) / (1.0 - chance))
    return {
        "n_epochs": total,
        "accuracy": float(observed),
        "macro_f1": float(np.mean(f1_of_occurring)),
        "kappa": kappa,
        "per_stage": per_stage,
        "labels": list(labels),
        "confusion_matrix": cm.tolist(),
    }


def confusion_matrix_png(
    cm, path: str | Path, labels: Sequence[str] = STAGES, title: str | None = None
) -> Path:
    """Write a confusion matrix ``[true × pred]`` as a PNG heat map, atomically.

    Cells are coloured by the share of each true stage (row-normalised, i.e. recall), and
    show the count and that share, so small and large stages read alike.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "cm.png"
    >>> confusion_matrix_png([[50, 2], [5, 40]], out, labels=["W", "N1"]).read_bytes()[:4]
    b'\\x89PNG'
    """
    from matplotlib.figure import Figure

    cm = np.asarray(cm, dtype=np.int64)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix must be {len(labels)}×{len(labels)}, got {cm.shape}")
    row_totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, row_totals, out=np.zeros(cm.shape), where=row_totals > 0)

    size = 1.0 + 0.8 * len(labels)
    fig = Figure(figsize=(size + 1.0, size), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), count in np.ndenumerate(cm):
        # White text on dark cells keeps every number legible.
        colour = "white" if share[i, j] > 0.6 else "black"
        ax.text(
            j, i, f"{count}\n{share[i, j]:.0%}", ha="center", va="center", color=colour, fontsize=8
        )
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted stage")
    ax.set_ylabel("reference stage")
    ax.set_title(title or f"Confusion matrix (n = {int(cm.sum())} epochs)", fontsize=10)
    fig.colorbar(image, ax=ax, label="share of reference stage", shrink=0.8)

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _scored_pairs(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"the two scorings cover different numbers of epochs ({y_true.size} vs {y_pred.size})"
        )
    scored = (y_true != UNS) & (y_pred != UNS)
    return y_true[scored], y_pred[scored]
