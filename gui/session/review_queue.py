"""The order in which the technician visits doubtful epochs ("next uncertain epoch").

The review queue proper — low calibrated confidence, plus epochs where EpochViT alone and the
sequence model disagree, plus transitions the sequence model changed — comes from
:mod:`sleepvit.explain` (its own issue). Until it exists, :meth:`ReviewQueue.by_confidence`
stands in: the epochs the report flags (confidence below
:data:`~sleepvit.report.review.REVIEW_THRESHOLD`), least confident first. A queue is only an
ordered list of epochs, so the explain queue replaces it without touching the views.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleepvit.gui.session.scoring import AiScoring
from sleepvit.report.review import REVIEW_THRESHOLD, low_confidence_epochs

BY_CONFIDENCE = "lowest confidence first"


@dataclass(frozen=True)
class ReviewQueue:
    """Epochs (from 0) in the order they should be reviewed.

    Examples
    --------
    >>> queue = ReviewQueue(np.array([7, 2, 9]), BY_CONFIDENCE)
    >>> reviewed = np.zeros(10, bool); reviewed[2] = True
    >>> queue.next_position(-1, reviewed), queue.next_position(0, reviewed)
    (0, 2)
    >>> queue.previous_position(2), queue.position_of(9), queue.position_of(3)
    (1, 2, None)
    """

    epochs: np.ndarray
    ordering: str
    """How the order was made, shown to the technician."""

    @classmethod
    def by_confidence(cls, ai: AiScoring, threshold: float = REVIEW_THRESHOLD) -> ReviewQueue:
        """The flagged epochs of the report, least confident first (ties in time order)."""
        flagged = low_confidence_epochs(ai.hypnogram(None), threshold)
        order = np.argsort(ai.confidence[flagged], kind="stable")
        return cls(flagged[order], BY_CONFIDENCE)

    def __len__(self) -> int:
        return int(self.epochs.size)

    def position_of(self, epoch: int) -> int | None:
        found = np.flatnonzero(self.epochs == epoch)
        return int(found[0]) if found.size else None

    def next_position(self, position: int, reviewed: np.ndarray) -> int | None:
        """The next queue position after ``position`` whose epoch is not yet reviewed,
        wrapping round to the start; ``None`` when every queued epoch is reviewed."""
        pending = np.flatnonzero(~reviewed[self.epochs])
        if not pending.size:
            return None
        later = pending[pending > position]
        return int(later[0] if later.size else pending[0])

    def previous_position(self, position: int) -> int | None:
        """The position before ``position`` (reviewed or not: to look back at one)."""
        return position - 1 if position > 0 else None

    def remaining(self, reviewed: np.ndarray) -> int:
        return int(np.count_nonzero(~reviewed[self.epochs]))
