"""The review queue: which epochs a technician should check first, and why.

An epoch joins the queue for any of three reasons (:class:`Reason`):

- its calibrated confidence (the sequence model's probability of the stage scored) is below
  :data:`REVIEW_THRESHOLD`;
- EpochViT alone, reading only that screen, chose another stage than the sequence model did;
- the sequence model changed a stage transition there: it added, moved or removed a change
  of stage that EpochViT's own hypnogram has (the boundaries of a REM period, sleep onset).

Epochs scored ``UNS`` (gaps, flat or unreadable signals) never join: there is nothing to
review. The queue is ordered by a *ranking signal* (:data:`RANKINGS`), most doubtful first;
which signal ranks the model's errors best is measured (``sleepvit bench explain``), and
:data:`DEFAULT_RANKING` is the winner of that measurement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag

import numpy as np

from sleepvit.hypnogram import UNS

REVIEW_THRESHOLD = 0.6
"""Epochs whose scored stage has a calibrated probability below this are queued."""


class Reason(IntFlag):
    """Why an epoch is in the queue (several may hold)."""

    LOW_CONFIDENCE = 1
    DISAGREEMENT = 2
    """EpochViT alone and the sequence model chose different stages."""
    CHANGED_TRANSITION = 4
    """The sequence model added, moved or removed a stage change here."""


REASON_TEXT: dict[Reason, str] = {
    Reason.LOW_CONFIDENCE: "low confidence",
    Reason.DISAGREEMENT: "screen alone disagrees",
    Reason.CHANGED_TRANSITION: "transition changed by context",
}
REASON_SHORT: dict[Reason, str] = {
    Reason.LOW_CONFIDENCE: "conf",
    Reason.DISAGREEMENT: "alone",
    Reason.CHANGED_TRANSITION: "trans",
}
"""One word per reason, for tables (the report's flagged-epochs page)."""


def _confidence(sequence: np.ndarray, epoch_vit: np.ndarray) -> np.ndarray:
    return 1.0 - sequence.max(axis=1)


def _margin(sequence: np.ndarray, epoch_vit: np.ndarray) -> np.ndarray:
    top_two = np.sort(sequence, axis=1)[:, -2:]
    return 1.0 - (top_two[:, 1] - top_two[:, 0])


def _entropy(sequence: np.ndarray, epoch_vit: np.ndarray) -> np.ndarray:
    p = np.clip(sequence, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1) / np.log(sequence.shape[1])


def _disagreement(sequence: np.ndarray, epoch_vit: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(sequence - epoch_vit).sum(axis=1)


def _epoch_vit_confidence(sequence: np.ndarray, epoch_vit: np.ndarray) -> np.ndarray:
    return 1.0 - epoch_vit.max(axis=1)


def _confidence_and_disagreement(sequence: np.ndarray, epoch_vit: np.ndarray) -> np.ndarray:
    return _confidence(sequence, epoch_vit) + _disagreement(sequence, epoch_vit)


RANKINGS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "confidence": _confidence,
    "margin": _margin,
    "entropy": _entropy,
    "disagreement": _disagreement,
    "confidence+disagreement": _confidence_and_disagreement,
    "epoch-vit-confidence": _epoch_vit_confidence,
}
"""Ranking signal name -> ``doubt(sequence, epoch_vit)`` per epoch, higher = review sooner.

``confidence``: 1 − calibrated probability of the scored stage; ``margin``: 1 − its lead over
the runner-up; ``entropy``: of the calibrated probabilities, over log 5; ``disagreement``:
total-variation distance between EpochViT alone and the sequence model;
``confidence+disagreement``: the sum of the first and the fourth; ``epoch-vit-confidence``:
1 − EpochViT's own calibrated probability of the stage it chose, reading that screen only."""

DEFAULT_RANKING = "epoch-vit-confidence"
"""Chosen on calibration nights (never test nights) with the demo weights calibrated by
``sleepvit calibrate`` (README, Confidence): ten simulated 2-h nights of seeds 5,000,000+ at
EEG/EOG gains 0.5–2.5 (κ 0.64). There EpochViT's own calibrated confidence ranked the errors
best (AUROC 0.832 against 0.773 for the sequence model's confidence and 0.717 for
confidence+disagreement) and needed the fewest epochs reviewed for κ 0.90 of the signals that
cost no extra model run (39.8 % against 42.9 % and 46.7 %). The mean confidence over gain
views ×0.8/×1.25 (test-time augmentation, 3 EpochViT runs) needed 33.7 % but ranked worse
(AUROC 0.806) and lost where it matters most: on gain ×2.5 and on the real dreams-dev excerpts
it needed 85.9 % and 88.3 % against 67.5 % and 78.7 %. When a night's stages are wrong because
the recording differs (gain, derivation), the sequence model is confidently wrong with its
context, and the screen alone knows better that it is unsure. Measure again with new weights."""


def doubt(sequence: np.ndarray, epoch_vit: np.ndarray, ranking: str = DEFAULT_RANKING):
    """Per-epoch ranking signal ``[n]`` (higher = more doubtful) of :data:`RANKINGS`.

    ``sequence`` and ``epoch_vit`` are stage probabilities ``[n, 5]``.

    >>> seq = np.array([[0.9, 0.1, 0, 0, 0], [0.5, 0.5, 0, 0, 0]])
    >>> doubt(seq, seq, "confidence").round(2).tolist()
    [0.1, 0.5]
    """
    if ranking not in RANKINGS:
        raise ValueError(f"unknown ranking {ranking!r}; choose one of {', '.join(RANKINGS)}")
    sequence = np.nan_to_num(np.asarray(sequence, np.float64))
    epoch_vit = np.nan_to_num(np.asarray(epoch_vit, np.float64))
    return RANKINGS[ranking](sequence, epoch_vit)


def changed_transitions(stages: np.ndarray, epoch_vit_stages: np.ndarray) -> np.ndarray:
    """Bool ``[n]``: epochs where one hypnogram changes stage and the other does not.

    Epoch ``e`` is a transition of a hypnogram when its stage differs from epoch ``e − 1``'s.

    >>> seq = np.array([2, 2, 4, 4, 4])     # N2 N2 REM REM REM
    >>> vit = np.array([2, 2, 2, 4, 4])     # the screen alone starts REM one epoch later
    >>> changed_transitions(seq, vit).tolist()
    [False, False, True, True, False]
    """
    stages, epoch_vit_stages = np.asarray(stages), np.asarray(epoch_vit_stages)
    changed = np.zeros(stages.shape, bool)
    changed[1:] = (np.diff(stages) != 0) != (np.diff(epoch_vit_stages) != 0)
    return changed


@dataclass(frozen=True)
class ReviewQueue:
    """Epochs to review (indices from 0), most doubtful first, with why each is there.

    Examples
    --------
    >>> seq = np.array([[.9, .1, 0, 0, 0], [.5, .4, .1, 0, 0], [.95, .05, 0, 0, 0]])
    >>> queue = review_queue(seq, epoch_vit=seq)
    >>> queue.epochs.tolist(), queue.why(1), f"{queue.coverage:.0%}"
    ([1], ['low confidence'], '33%')
    >>> vit = np.array([[.9, .1, 0, 0, 0], [.1, .8, .1, 0, 0], [.9, .1, 0, 0, 0]])
    >>> queue = review_queue(seq, vit)  # alone, epoch 1 looked like N1; context removed the blip
    >>> queue.epochs.tolist(), queue.why(2)
    ([1, 2], ['transition changed by context'])
    """

    epochs: np.ndarray
    """int64 ``[k]`` in review order."""
    reasons: np.ndarray
    """uint8 ``[k]``: :class:`Reason` flags of each queued epoch."""
    doubt: np.ndarray
    """float32 ``[k]``: the ranking signal, descending."""
    ranking: str
    threshold: float
    n_scored: int
    """Epochs of the night that are scored (not ``UNS``): what the coverage is a share of."""

    def __len__(self) -> int:
        return int(self.epochs.size)

    @property
    def coverage(self) -> float:
        """Share of the night's scored epochs the queue asks to review."""
        return len(self) / self.n_scored if self.n_scored else 0.0

    def why(self, epoch: int, short: bool = False) -> list[str]:
        """Reasons ``epoch`` is queued (:data:`REASON_TEXT`, or :data:`REASON_SHORT`); empty
        when it is not queued."""
        found = np.flatnonzero(self.epochs == epoch)
        if not found.size:
            return []
        flags = Reason(int(self.reasons[found[0]]))
        words = REASON_SHORT if short else REASON_TEXT
        return [text for reason, text in words.items() if reason in flags]

    def count(self, reason: Reason) -> int:
        """Queued epochs that are there (at least) for ``reason``."""
        return int(np.count_nonzero(self.reasons & int(reason)))


def review_queue(
    sequence: np.ndarray,
    epoch_vit: np.ndarray,
    stages: np.ndarray | None = None,
    ranking: str = DEFAULT_RANKING,
    threshold: float = REVIEW_THRESHOLD,
) -> ReviewQueue:
    """The review queue of a night from its stage probabilities (see the module docstring).

    ``sequence``: calibrated probabilities ``[n, 5]`` with context (the hypnogram's);
    ``epoch_vit``: EpochViT alone ``[n, 5]``; ``stages``: the stages scored (default: the
    sequence model's choice), ``UNS`` where an epoch was not scored; ``ranking``: one of
    :data:`RANKINGS`. Ties keep time order.
    """
    sequence = np.asarray(sequence, np.float32)
    epoch_vit = np.asarray(epoch_vit, np.float32)
    if sequence.shape != epoch_vit.shape:
        raise ValueError(f"probabilities {sequence.shape} and {epoch_vit.shape} differ in shape")
    scored = np.isfinite(sequence).all(axis=1)
    chosen = np.where(scored, np.nan_to_num(sequence).argmax(axis=1), UNS)
    if stages is not None:
        stages = np.asarray(stages)
        scored &= stages != UNS
        chosen = np.where(scored, stages, UNS)
    confidence = np.take_along_axis(np.nan_to_num(sequence), np.maximum(chosen, 0)[:, None], 1)
    on_screen = np.nan_to_num(epoch_vit).argmax(axis=1)
    transition = changed_transitions(chosen, on_screen)
    transition[1:] &= scored[:-1]  # a stage after a gap is no transition of the model's
    reasons = (
        np.where(confidence[:, 0] < threshold, int(Reason.LOW_CONFIDENCE), 0)
        | np.where(on_screen != chosen, int(Reason.DISAGREEMENT), 0)
        | np.where(transition, int(Reason.CHANGED_TRANSITION), 0)
    )
    reasons = np.where(scored, reasons, 0).astype(np.uint8)
    queued = np.flatnonzero(reasons)
    signal = doubt(sequence, epoch_vit, ranking)[queued]
    order = np.argsort(-signal, kind="stable")
    return ReviewQueue(
        epochs=queued[order].astype(np.int64),
        reasons=reasons[queued][order],
        doubt=signal[order].astype(np.float32),
        ranking=ranking,
        threshold=float(threshold),
        n_scored=int(np.count_nonzero(scored)),
    )
