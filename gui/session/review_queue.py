"""Walking the review queue: the epochs a technician visits with "next / previous uncertain".

The queue itself is :func:`sleepvit.explain.review_queue`'s — low calibrated confidence,
EpochViT alone disagreeing with the sequence model, transitions the context changed, ranked
by the measured :data:`~sleepvit.explain.DEFAULT_RANKING` — the same queue the report's
flagged-epochs page lists (the export hands it over). :class:`QueueWalk` adds where the
technician is in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleepvit.explain import ReviewQueue, review_queue
from sleepvit.explain.review import REASON_TEXT
from sleepvit.gui.session.scoring import AiScoring


def queue_of(ai: AiScoring) -> ReviewQueue:
    """The review queue of an AI scoring.

    A scoring read from ``STEM.hypnogram.csv`` has no EpochViT-alone probabilities: its queue
    can only hold the low-confidence epochs, and the sequence model's probabilities stand in
    for EpochViT's in the ranking.
    """
    epoch_vit = ai.epoch_vit if ai.epoch_vit is not None else ai.probabilities
    return review_queue(ai.probabilities, epoch_vit, ai.stages)


@dataclass(frozen=True)
class QueueWalk:
    """A :class:`~sleepvit.explain.ReviewQueue` walked in its order.

    Examples
    --------
    >>> p = np.tile(np.eye(5, dtype=np.float32)[2], (10, 1))
    >>> p[[2, 7, 9]] = [[.4, .3, .3, 0, 0], [.2, .5, .3, 0, 0], [.3, .3, .4, 0, 0]]
    >>> alone = p.copy(); alone[7] = np.eye(5)[2]  # EpochViT alone saw N2 in epoch 7
    >>> walk = QueueWalk(review_queue(p, alone, ranking="confidence"))
    >>> walk.epochs.tolist()                       # most doubtful first
    [2, 9, 7, 8]
    >>> reviewed = np.zeros(10, bool); reviewed[2] = True
    >>> walk.next_position(-1, reviewed), walk.next_position(1, reviewed)
    (1, 2)
    >>> walk.previous_position(2), walk.position_of(9), walk.position_of(3)
    (1, 1, None)
    >>> walk.why(7), f"{walk.queue.coverage:.0%}"
    (['low confidence', 'screen alone disagrees', 'transition changed by context'], '40%')
    """

    queue: ReviewQueue

    @property
    def epochs(self) -> np.ndarray:
        return self.queue.epochs

    @property
    def ordering(self) -> str:
        """How the queue is ranked, for the technician."""
        return f"ranked by {self.queue.ranking}"

    def __len__(self) -> int:
        return len(self.queue)

    def why(self, epoch: int) -> list[str]:
        """Why ``epoch`` is queued (:data:`~sleepvit.explain.review.REASON_TEXT`)."""
        return self.queue.why(epoch)

    def counts(self) -> dict[str, int]:
        """Queued epochs per reason (an epoch may count under several)."""
        return {text: self.queue.count(reason) for reason, text in REASON_TEXT.items()}

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
