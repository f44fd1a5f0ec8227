"""Scoring a night: load → render → EpochViT → SequenceTransformer → Hypnogram.

:func:`score_night` is the one entry point the CLI, batch scoring, reports and the GUI share.
The models run in a *backend* chosen by name; ``torch`` (fp32, needs the ``train`` extra)
is the only one for now, and a backend is any object with ``name``, ``model_name``,
``render_config`` and ``score(images, present) -> NightScores``, so an ONNX runtime can be
added to :data:`BACKENDS` without touching the rest of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepvit.errors import ModelError, SleepVitError
from sleepvit.hypnogram import STAGES, Hypnogram
from sleepvit.study import Study

DEFAULT_BACKEND = "torch"


@dataclass(frozen=True)
class NightScores:
    """Per-epoch stage probabilities ``[n_epochs, 5]`` of one night."""

    epoch_vit: np.ndarray
    """EpochViT alone (each epoch judged on its own screen)."""
    sequence: np.ndarray
    """With the SequenceTransformer over neighbouring epochs, temperature-calibrated."""


class TorchBackend:
    """fp32 PyTorch models from a weights folder (``config.json`` + safetensors)."""

    name = "torch"

    def __init__(self, weights: str | Path):
        try:
            import torch  # noqa: F401  (only to turn a missing extra into a clear message)
        except ImportError as exc:
            raise ModelError(
                "backend torch needs PyTorch, which is not installed; install the train "
                "extra (pip install 'sleepvit[train]') or choose another --backend",
                weights,
            ) from exc
        from sleepvit.models.artifacts import load_artifacts

        self.artifacts = load_artifacts(weights)
        self.model_name = self.artifacts.name
        self.render_config = self.artifacts.render_config

    def score(self, images: np.ndarray, present: np.ndarray) -> NightScores:
        """Probabilities of every epoch image ``[n, H, W]`` (uint8) of one montage."""
        from sleepvit.models.epoch_vit import embed_epochs
        from sleepvit.models.sequence import score_night as score_sequence

        logits, embeddings = embed_epochs(self.artifacts.epoch_vit, images, present)
        sequence = score_sequence(
            self.artifacts.sequence, embeddings, temperature=self.artifacts.temperature
        )
        return NightScores(
            epoch_vit=logits.softmax(dim=1).cpu().numpy(),
            sequence=sequence.cpu().numpy(),
        )


BACKENDS: dict[str, type] = {"torch": TorchBackend}
"""Backend name → class built from a weights folder."""


def load_backend(backend: str = DEFAULT_BACKEND, weights: str | Path | None = None):
    """The models of ``weights`` (default: the shipped demo weights) in ``backend``.

    Examples
    --------
    >>> try:
    ...     load_backend("onnx-int8")
    ... except SleepVitError as error:
    ...     print(error)
    backend 'onnx-int8' is not available in this version; use --backend torch
    """
    if backend not in BACKENDS:
        raise SleepVitError(
            f"backend {backend!r} is not available in this version; "
            f"use --backend {' or '.join(sorted(BACKENDS))}"
        )
    from sleepvit.models.artifacts import default_weights_dir

    return BACKENDS[backend](Path(weights) if weights is not None else default_weights_dir())


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
