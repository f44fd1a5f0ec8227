"""Scoring a night: load → render → EpochViT → SequenceTransformer → Hypnogram.

:func:`score_night` is the one entry point the CLI, batch scoring, reports and the GUI share.
The models run in a *backend* of :mod:`sleepvit.models.backends` chosen by name:
``onnx-int8`` (default, ONNX Runtime, no torch), ``onnx-fp32`` or ``torch`` (fp32, needs the
``train`` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sleepvit.hypnogram import STAGES, Hypnogram
from sleepvit.models.backends import DEFAULT_BACKEND, Backend, NightScores
from sleepvit.models.backends import load_backend as load_model_backend
from sleepvit.study import Study


def load_backend(backend: str = DEFAULT_BACKEND, weights: str | Path | None = None) -> Backend:
    """The models of ``weights`` (default: the shipped demo weights) in ``backend``.

    A thin alias of :func:`sleepvit.models.backends.load_backend` in CLI argument order.

    Examples
    --------
    >>> from sleepvit.errors import ModelError
    >>> try:
    ...     load_backend("onnx-int16")
    ... except ModelError as error:
    ...     print(error)
    unknown backend 'onnx-int16'; choose --backend onnx-int8, onnx-fp32 or torch
    """
    return load_model_backend(weights, backend)


def score_study(study: Study, scorer) -> tuple[Hypnogram, NightScores]:
    """Stages of a loaded night with ``scorer`` (see :func:`load_backend`)."""
    from sleepvit.rendering import render_epochs

    rendered = render_epochs(study, scorer.render_config)
    scores = scorer.score(rendered.images, rendered.present)
    hypnogram = Hypnogram(
        stages=scores.sequence.argmax(axis=1),
        start=study.start,
        probabilities=scores.sequence,
        metadata={
            "model": scorer.model_name,
            "backend": scorer.name,
            "channels": {slot: s.label for slot, s in study.signals.items()},
        },
    )
    return hypnogram, scores


def score_night(
    path: str | Path,
    weights: str | Path | None = None,
    backend: str = DEFAULT_BACKEND,
    channel_map: str | Path | None = None,
) -> Hypnogram:
    """Score one recording; the hypnogram carries per-epoch probabilities and confidence.

    Examples
    --------
    >>> hyp = score_night("night.edf", weights="runs/demo/weights/sleepvit")  # doctest: +SKIP
    >>> hyp.names()[:3], float(hyp.confidence.mean())                        # doctest: +SKIP
    (['W', 'W', 'N1'], 0.83)
    """
    from sleepvit.io import load_study

    scorer = load_backend(backend, weights)
    hypnogram, _ = score_study(load_study(path, channel_map=channel_map), scorer)
    return hypnogram


def summarize(hypnogram: Hypnogram) -> str:
    """Epochs per stage and mean confidence, as printed by ``sleepvit score``.

    Examples
    --------
    >>> p = np.eye(5, dtype=np.float32)[[0, 2, 2, 4]] * 0.8 + 0.04
    >>> print(summarize(Hypnogram(p.argmax(1), probabilities=p)))
    4 epochs (2.0 min), mean confidence 0.84
      W        1   25.0 %
      N1       0    0.0 %
      N2       2   50.0 %
      N3       0    0.0 %
      REM      1   25.0 %
    """
    n = len(hypnogram)
    counts = np.bincount(hypnogram.stages[hypnogram.stages >= 0], minlength=len(STAGES))
    confidence = hypnogram.confidence
    head = f"{n} epochs ({hypnogram.duration_s / 60:.1f} min)"
    if confidence is not None and n:
        head += f", mean confidence {float(confidence.mean()):.2f}"
    lines = [head]
    for name, count in zip(STAGES, counts, strict=True):
        lines.append(f"  {name:<5}{count:>5}  {100 * count / max(n, 1):>5.1f} %")
    return "\n".join(lines)
