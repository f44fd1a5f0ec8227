"""Explanations: where the model looked, which neighbours moved it, what to review first.

One API for the report, the command line and the GUI, torch-free except for captum's
attributions (imported only when asked for):

- :func:`relevance` — grids ``[n, slots, n_cols]`` over signal × 2-s column, by attention
  rollout in any backend (ONNX Runtime by default), or by captum's Integrated Gradients or
  Occlusion with torch; :class:`EpochRelevance` reads one grid per signal and per second;
- :func:`neighbour_relevance` — how much each surrounding epoch moved the sequence model;
- :func:`review_queue` — the epochs to check first, and why (:class:`ReviewQueue`);
- :class:`NightExplanation` — all of it for a whole night, saved as ``STEM.relevance.npz``.

Examples
--------
>>> from sleepvit.explain import NightExplanation, neighbour_relevance, relevance
>>> backend = load_backend()                                                   # doctest: +SKIP
>>> hypnogram, scores = score_study(study, backend, relevance=True)            # doctest: +SKIP
>>> night = NightExplanation.from_scores(scores, hypnogram.stages, backend, study)  # doctest: +SKIP
>>> night.epoch(120).per_signal()["EEG_C"], night.queue.epochs[:3]             # doctest: +SKIP
(0.31, array([412, 97, 523]))
>>> neighbour_relevance(backend, night.embeddings, 120).strongest(1)           # doctest: +SKIP
[(121, 0.12)]
"""

from sleepvit.explain.neighbours import NeighbourRelevance, neighbour_relevance
from sleepvit.explain.night import NightExplanation
from sleepvit.explain.relevance import METHODS, EpochRelevance, relevance
from sleepvit.explain.review import (
    DEFAULT_RANKING,
    RANKINGS,
    REVIEW_THRESHOLD,
    Reason,
    ReviewQueue,
    doubt,
    review_queue,
)

__all__ = [
    "DEFAULT_RANKING",
    "METHODS",
    "RANKINGS",
    "REVIEW_THRESHOLD",
    "EpochRelevance",
    "NeighbourRelevance",
    "NightExplanation",
    "Reason",
    "ReviewQueue",
    "doubt",
    "neighbour_relevance",
    "relevance",
    "review_queue",
]
