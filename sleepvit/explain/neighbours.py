"""Which neighbouring epochs moved the sequence model's decision, by occluding them.

An epoch's stage is the mean, over the stride-1 windows of ``context`` epochs that contain it,
of the SequenceTransformer's probabilities (:func:`~sleepvit.models.backends.window_probabilities`).
Occluding neighbour ``e + d`` means masking it in every one of those windows, as the padding
beyond a night's ends is masked, and scoring the epoch again: the drop of the probability of
the stage scored is that neighbour's relevance, in probability (``delta``) and in log-odds
(``log_odds``: still visible when the model is sure, where probabilities barely move).
Positive: the neighbour supported the stage (REM before and after a REM epoch); negative: it
argued against it. Torch-free: the windows run in whatever backend scored the night, in one
batch, and per neighbour only the windows that hold it run again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleepvit.models.backends import softmax


@dataclass(frozen=True)
class NeighbourRelevance:
    """How much each neighbour of ``epoch`` moved its stage probability.

    Examples
    --------
    >>> delta = np.array([0.0, 0.3, 0.1, -0.05])
    >>> r = NeighbourRelevance(5, 2, np.array([-2, -1, 1, 2]), delta, 4 * delta)
    >>> r.strongest(2)
    [(4, 0.3), (6, 0.1)]
    >>> r.by_offset(2, log_odds=True).tolist()
    [0.0, 1.2000000476837158, 0.0, 0.4000000059604645, -0.20000000298023224]
    """

    epoch: int
    stage: int
    """Stage code whose probability is measured (the one scored)."""
    offsets: np.ndarray
    """Neighbour positions relative to ``epoch`` (−(L−1) … L−1, 0 left out, inside the night)."""
    delta: np.ndarray
    """Probability of ``stage`` with all neighbours minus without that one."""
    log_odds: np.ndarray
    """The same change in log-odds of ``stage``."""

    def strongest(self, k: int = 3, log_odds: bool = False) -> list[tuple[int, float]]:
        """The ``k`` neighbours (epoch index, change) that supported the stage most."""
        changes = self.log_odds if log_odds else self.delta
        order = np.argsort(-changes, kind="stable")[:k]
        return [(self.epoch + int(self.offsets[i]), float(changes[i])) for i in order]

    def by_offset(self, reach: int, log_odds: bool = False) -> np.ndarray:
        """Changes at offsets −reach … reach (0 and neighbours outside the night are 0), in
        probability or, with ``log_odds``, in log-odds."""
        values = np.zeros(2 * reach + 1, np.float32)
        inside = np.abs(self.offsets) <= reach
        changes = self.log_odds if log_odds else self.delta
        values[self.offsets[inside] + reach] = changes[inside]
        return values


def neighbour_relevance(
    backend,
    embeddings: np.ndarray,
    epoch: int,
    stage: int | None = None,
    keep: np.ndarray | None = None,
) -> NeighbourRelevance:
    """Relevance of every neighbour that shares a window with ``epoch`` (see module docstring).

    ``backend``: a loaded :func:`~sleepvit.models.backends.load_backend`; ``embeddings``: the
    night's EpochViT embeddings ``[n, D]`` (``NightScores.embeddings``, or the ``embeddings``
    of a ``STEM.relevance.npz``); ``stage``: the stage code to measure (default: the one the
    sequence model chooses for ``epoch``); ``keep``: bool ``[n]``, the epochs the night was
    scored with (``False`` where it was not, as in
    :meth:`~sleepvit.models.backends.Backend.sequence_probabilities`; default all). An epoch
    not kept has no neighbour relevance; neighbours not kept are left out.

    >>> r = neighbour_relevance(load_backend(), scores.embeddings, 120)     # doctest: +SKIP
    >>> r.strongest(1)                                                     # doctest: +SKIP
    [(121, 0.21)]
    """
    embeddings = np.asarray(embeddings, np.float32)
    n = len(embeddings)
    if not 0 <= epoch < n:
        raise ValueError(f"epoch {epoch} is outside the night's {n} epochs")
    context = backend.config.sequence.context
    pad = context // 2
    padded = np.zeros((n + 2 * pad, embeddings.shape[1]), np.float32)
    padded[pad : pad + n] = embeddings
    keep = np.ones(n, bool) if keep is None else np.asarray(keep, bool)
    if not keep[epoch]:
        raise ValueError(f"epoch {epoch} was not scored; it has no neighbour relevance")
    real = np.zeros(n + 2 * pad, bool)
    real[pad : pad + n] = keep
    # Windows (by first padded index) that contain the epoch, and its position in each.
    centre = epoch + pad
    starts = np.arange(max(0, centre - context + 1), min(centre, n + 2 * pad - context) + 1)
    positions = centre - starts
    windows = np.stack([padded[s : s + context] for s in starts])
    valid = np.stack([real[s : s + context] for s in starts])
    offsets = np.array(
        [d for d in range(-(context - 1), context) if d and 0 <= epoch + d < n and keep[epoch + d]],
        np.int64,
    )
    # One batch: the windows as they are, then, per neighbour, only the windows that hold it
    # (in the others nothing changes), with it masked.
    variant, window, hidden = [], [], []
    for i, d in enumerate(offsets, start=1):
        position = positions + d
        for w in np.flatnonzero((position >= 0) & (position < context)):
            variant.append(i)
            window.append(w)
            hidden.append(position[w])
    variant, window, hidden = (np.array(a, np.int64) for a in (variant, window, hidden))
    masked = valid[window]
    masked[np.arange(len(window)), hidden] = False
    logits = backend.window_logits(
        np.concatenate([windows, windows[window]]), np.concatenate([valid, masked])
    )
    at_epoch = softmax(
        logits[np.arange(len(logits)), np.concatenate([positions, positions[window]])],
        backend.temperature,
    )  # [windows + masked windows, classes]: the epoch's probabilities in each
    baseline = at_epoch[: len(starts)]
    per_variant = np.repeat(baseline[None], len(offsets) + 1, axis=0)
    per_variant[variant, window] = at_epoch[len(starts) :]
    probabilities = per_variant.mean(axis=1)
    if stage is None:
        stage = int(probabilities[0].argmax())
    chosen = np.clip(probabilities[:, stage].astype(np.float64), 1e-7, 1 - 1e-7)
    odds = np.log(chosen) - np.log1p(-chosen)
    delta = probabilities[0, stage] - probabilities[1:, stage]
    return NeighbourRelevance(
        int(epoch),
        int(stage),
        offsets,
        delta.astype(np.float32),
        (odds[0] - odds[1:]).astype(np.float32),
    )
