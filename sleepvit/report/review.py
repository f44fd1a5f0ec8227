"""Which epochs the report lists for review, and what a technician's review of the AI scoring
changed.

Which epochs are flagged is the review queue's business (:mod:`sleepvit.explain.review`, the
same queue the GUI walks through); :func:`low_confidence_epochs` is its confidence part alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from sleepvit.explain.review import REVIEW_THRESHOLD
from sleepvit.hypnogram import STAGES, UNS, Hypnogram, stage_name


@dataclass(frozen=True)
class FlaggedEpoch:
    """One epoch to review, with what the model hesitated between."""

    epoch: int
    onset_s: float
    stage: str
    confidence: float | None
    runner_up: str | None
    """Most likely stage other than the scored one, ``None`` without probabilities."""
    runner_up_probability: float | None


def low_confidence_epochs(hyp: Hypnogram, threshold: float = REVIEW_THRESHOLD) -> np.ndarray:
    """Indices of scored epochs whose confidence is below ``threshold`` (none for a human scoring).

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[.9, .1, 0, 0, 0], [.4, .35, .25, 0, 0], [0, 0, .5, .5, 0]])
    >>> hyp = Hypnogram(np.array([0, 0, 2]), probabilities=p)
    >>> low_confidence_epochs(hyp).tolist()
    [1, 2]
    """
    if hyp.confidence is None:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero((hyp.confidence < threshold) & (hyp.stages != UNS))


def describe_epochs(hyp: Hypnogram, epochs) -> list[FlaggedEpoch]:
    """Stage, confidence and runner-up stage of each epoch index in ``epochs``, in time order.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[.9, .1, 0, 0, 0], [.4, .35, .25, 0, 0]])
    >>> describe_epochs(Hypnogram(np.array([0, 0]), probabilities=p), [1])[0].runner_up
    'N1'
    """
    flagged = []
    for epoch in sorted(int(e) for e in epochs):
        if not 0 <= epoch < len(hyp):
            raise ValueError(f"epoch {epoch} is outside the {len(hyp)}-epoch hypnogram")
        confidence = runner_up = runner_up_probability = None
        if hyp.probabilities is not None:
            probabilities = hyp.probabilities[epoch].astype(float)
            confidence = float(probabilities.max())
            # The runner-up is measured against the stage shown, which a technician's edit
            # may have moved away from the model's first choice.
            scored = int(hyp.stages[epoch])
            shown = scored if scored != UNS else int(probabilities.argmax())
            others = np.where(np.arange(len(STAGES)) == shown, -np.inf, probabilities)
            runner_up = STAGES[int(others.argmax())]
            runner_up_probability = float(others.max())
        flagged.append(
            FlaggedEpoch(
                epoch=epoch,
                onset_s=float(hyp.onsets_s[epoch]),
                stage=stage_name(int(hyp.stages[epoch])),
                confidence=confidence,
                runner_up=runner_up,
                runner_up_probability=runner_up_probability,
            )
        )
    return flagged


@dataclass(frozen=True)
class TechnicianReview:
    """A technician's review of an AI scoring, as the reviewed report and exports record it.

    The reviewed night itself is the hypnogram being written; this keeps what it came from.

    Examples
    --------
    >>> import numpy as np
    >>> review = TechnicianReview(ai=Hypnogram.from_names(["W", "N1", "N2"]), reviewed_epochs=2)
    >>> review.changed_epochs(Hypnogram.from_names(["W", "N2", "N2"])).tolist()
    [1]
    """

    ai: Hypnogram
    """The AI's scoring the review started from (its stages and probabilities)."""
    reviewed_epochs: int
    """Epochs the technician scored or confirmed."""
    reviewer: str | None = None
    """Who signed the night off; ``None`` when it is not signed off since the last edit."""
    signed_at: datetime | None = None
    audit: tuple[dict, ...] = field(default_factory=tuple)
    """The edit log: ``time``, ``epoch`` (from 1), ``old``, ``new``, ``who``, ``action``."""

    def changed_epochs(self, reviewed: Hypnogram) -> np.ndarray:
        """Epochs whose reviewed stage differs from the AI's."""
        if len(reviewed) != len(self.ai):
            raise ValueError(
                f"the review has {len(reviewed)} epochs, the AI scoring {len(self.ai)}"
            )
        return np.flatnonzero(reviewed.stages != self.ai.stages)
