"""A whole night's explanation: every epoch's relevance grid, its scores and its review queue.

:meth:`NightExplanation.from_scores` keeps what a night's explanations are made of from its
scoring (:func:`~sleepvit.pipeline.score_study` with ``relevance=True``: one EpochViT pass gives
the stages and every grid); :meth:`NightExplanation.save` writes it as
``STEM.relevance.npz`` (``sleepvit score --explain``) and :meth:`NightExplanation.load` reads
it back, so the GUI opens a scored night with its heatmaps, neighbour strip and queue without
running EpochViT again.

``STEM.relevance.npz`` (NumPy ``savez_compressed``; read with ``np.load``, no pickle):

==================  ===========================  ==============================================
key                 dtype, shape                 content
==================  ===========================  ==============================================
``format``          str                          ``sleepvit.relevance/1``
``relevance``       float16 ``[n, slots, cols]`` each epoch's grid (sums to 1; absent slots 0)
``method``          str                          how the grids were made (``rollout``)
``slots``           str ``[slots]``              the grid's rows, the model's slot order
``present``         bool ``[slots]``             slots the recording has
``epoch_s``         float64                      seconds per epoch (columns: ``epoch_s/cols``)
``stages``          int8 ``[n]``                 stages scored (``UNS`` = −1)
``sequence``        float32 ``[n, 5]``           calibrated probabilities with context
``epoch_vit``       float32 ``[n, 5]``           EpochViT alone
``embeddings``      float32 ``[n, D]``           EpochViT embeddings: neighbour relevance
                                                 without rerunning EpochViT
``queue``           int64 ``[k]``                review queue, in review order (from 0)
``queue_reasons``   uint8 ``[k]``                :class:`~sleepvit.explain.review.Reason` flags
``queue_doubt``     float32 ``[k]``              the ranking signal of each queued epoch
``queue_ranking``   str                          ranking signal name
``queue_threshold`` float64                      confidence threshold of the queue
``model``           str (JSON)                   ``name``, ``version``, ``backend``,
                                                 ``render_config`` fingerprint
``channels``        str (JSON)                   slot → source channel label
==================  ===========================  ==============================================
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sleepvit.errors import SleepVitError
from sleepvit.explain.relevance import EpochRelevance, normalised
from sleepvit.explain.review import (
    DEFAULT_RANKING,
    REVIEW_THRESHOLD,
    ReviewQueue,
    review_queue,
)
from sleepvit.hypnogram import UNS
from sleepvit.io.atomic import atomic_open

FORMAT = "sleepvit.relevance/1"
SUFFIX = ".relevance.npz"
"""``STEM.relevance.npz``, next to the other outputs of ``sleepvit score``."""


@dataclass
class NightExplanation:
    """Relevance grids, stage probabilities, embeddings and review queue of one night.

    Examples
    --------
    >>> n, slots = 4, ("EEG_C", "EOG_L")
    >>> grids = np.zeros((n, 2, 15)); grids[:, 0, 3] = 1.0
    >>> p = np.tile(np.eye(5, dtype=np.float32)[2], (n, 1))
    >>> night = NightExplanation(grids, slots, np.ones(2, bool), p, p, np.zeros((n, 8)))
    >>> night.epoch(2).top_signal, night.per_signal().shape, len(night.queue)
    ('EEG_C', (4, 2), 0)
    """

    relevance: np.ndarray
    """``[n, slots, cols]`` grids, each summing to 1."""
    slots: tuple[str, ...]
    present: np.ndarray
    sequence: np.ndarray
    epoch_vit: np.ndarray
    embeddings: np.ndarray
    stages: np.ndarray | None = None
    """Stages scored (default: the sequence model's choice)."""
    epoch_s: float = 30.0
    method: str = "rollout"
    model: dict = field(default_factory=dict)
    channels: dict = field(default_factory=dict)
    queue: ReviewQueue | None = None
    """Default: :func:`~sleepvit.explain.review.review_queue` of the probabilities."""

    def __post_init__(self) -> None:
        self.relevance = normalised(self.relevance)
        self.slots = tuple(self.slots)
        self.sequence = np.asarray(self.sequence, np.float32)
        self.epoch_vit = np.asarray(self.epoch_vit, np.float32)
        if self.stages is None:
            finite = np.isfinite(self.sequence).all(axis=1)
            self.stages = np.where(finite, np.nan_to_num(self.sequence).argmax(axis=1), UNS)
        self.stages = np.asarray(self.stages, np.int8)
        n = len(self.stages)
        shapes = (
            len(self.relevance),
            len(self.sequence),
            len(self.epoch_vit),
            len(self.embeddings),
        )
        if any(length != n for length in shapes) or self.relevance.shape[1] != len(self.slots):
            raise ValueError(
                f"relevance {self.relevance.shape}, probabilities and embeddings must cover the "
                f"same {n} epochs and {len(self.slots)} slots"
            )
        if self.queue is None:
            self.queue = review_queue(self.sequence, self.epoch_vit, self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    def epoch(self, epoch: int) -> EpochRelevance:
        """The relevance of one epoch (index from 0)."""
        return EpochRelevance(self.relevance[epoch], self.slots, self.epoch_s, self.method)

    @property
    def scored(self) -> np.ndarray:
        """Bool ``[n]``: epochs the models scored (not ``UNS`` for want of readable signals):
        the ``keep`` of :func:`~sleepvit.explain.neighbours.neighbour_relevance`."""
        return np.isfinite(self.sequence).all(axis=1)

    def per_signal(self) -> np.ndarray:
        """``[n, slots]``: each epoch's relevance per signal (summed over its seconds)."""
        return self.relevance.sum(axis=2)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``STEM.relevance.npz``, keys in the module docstring) atomically."""
        path = Path(path)
        with atomic_open(path, "wb") as handle:
            self.write(handle)
        return path

    def write(self, handle: BinaryIO) -> None:
        """Write the ``STEM.relevance.npz`` content to an open binary file (e.g. to keep it
        in a database: the GUI's review file holds the explanation its review is based on)."""
        queue = self.queue
        arrays = {
            "format": np.array(FORMAT),
            "relevance": self.relevance.astype(np.float16),
            "method": np.array(self.method),
            "slots": np.array(self.slots),
            "present": np.asarray(self.present, bool),
            "epoch_s": np.array(float(self.epoch_s)),
            "stages": self.stages,
            "sequence": self.sequence,
            "epoch_vit": self.epoch_vit,
            "embeddings": np.asarray(self.embeddings, np.float32),
            "queue": queue.epochs,
            "queue_reasons": queue.reasons,
            "queue_doubt": queue.doubt,
            "queue_ranking": np.array(queue.ranking),
            "queue_threshold": np.array(queue.threshold),
            "model": np.array(json.dumps(self.model, sort_keys=True)),
            "channels": np.array(json.dumps(self.channels, sort_keys=True)),
        }
        np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path, content: BinaryIO | None = None) -> NightExplanation:
        """Read a ``STEM.relevance.npz``; raises :class:`~sleepvit.errors.SleepVitError`.

        ``content``: the file's bytes from elsewhere (what :meth:`write` wrote), ``path``
        then only names them in errors.

        >>> import io
        >>> p = np.tile(np.eye(5, dtype=np.float32)[2], (3, 1))
        >>> night = NightExplanation(np.ones((3, 1, 15)), ("EEG_C",), np.ones(1, bool), p, p,
        ...                          np.zeros((3, 4)))
        >>> buffer = io.BytesIO(); night.write(buffer); _ = buffer.seek(0)
        >>> NightExplanation.load("review.sqlite", buffer).stages.tolist()
        [2, 2, 2]
        """
        path = Path(path)
        try:
            with np.load(path if content is None else content, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT:
                    raise SleepVitError(
                        f"is a {data['format']} file, not {FORMAT}; score the night again "
                        "with explanations",
                        path,
                    )
                arrays = {key: data[key] for key in data.files}
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise SleepVitError(
                f"is not a readable relevance file ({exc}); score the night again with "
                "explanations",
                path,
            ) from exc
        stages = arrays["stages"]
        queue = ReviewQueue(
            epochs=arrays["queue"].astype(np.int64),
            reasons=arrays["queue_reasons"].astype(np.uint8),
            doubt=arrays["queue_doubt"].astype(np.float32),
            ranking=str(arrays["queue_ranking"]),
            threshold=float(arrays["queue_threshold"]),
            n_scored=int(np.count_nonzero(stages != UNS)),
        )
        return cls(
            relevance=arrays["relevance"].astype(np.float32),
            slots=tuple(str(s) for s in arrays["slots"]),
            present=arrays["present"],
            sequence=arrays["sequence"],
            epoch_vit=arrays["epoch_vit"],
            embeddings=arrays["embeddings"],
            stages=stages,
            epoch_s=float(arrays["epoch_s"]),
            method=str(arrays["method"]),
            model=json.loads(str(arrays["model"])),
            channels=json.loads(str(arrays["channels"])),
            queue=queue,
        )

    @classmethod
    def from_scores(cls, scores, stages, backend, study) -> NightExplanation:
        """The explanation of a night scored with ``relevance=True``.

        ``scores``: the :class:`~sleepvit.models.backends.NightScores` of
        :func:`~sleepvit.pipeline.score_study`; ``stages``: the hypnogram's stages (``UNS``
        where the night was not scored); ``backend``: the scorer; ``study``: the night.

        >>> hypnogram, scores = score_study(study, backend, relevance=True)    # doctest: +SKIP
        >>> night = NightExplanation.from_scores(scores, hypnogram.stages,
        ...                                      backend, study)               # doctest: +SKIP
        >>> night.epoch(120).top_signal, f"{night.queue.coverage:.0%}"        # doctest: +SKIP
        ('EEG_C', '14%')
        """
        if scores.relevance is None or scores.embeddings is None:
            raise ValueError("the night was scored without relevance; score it with relevance=True")
        config = backend.render_config
        return cls(
            relevance=scores.relevance,
            slots=config.slots,
            present=np.array([slot in study.signals for slot in config.slots]),
            sequence=scores.sequence,
            epoch_vit=scores.epoch_vit,
            embeddings=scores.embeddings,
            stages=stages,
            epoch_s=config.epoch_s,
            model={
                "name": backend.model_name,
                "version": backend.config.version,
                "backend": backend.name,
                "render_config": config.fingerprint(),
            },
            channels={slot: signal.label for slot, signal in study.signals.items()},
        )

    def with_queue(self, ranking: str = DEFAULT_RANKING, threshold: float = REVIEW_THRESHOLD):
        """The same night with its queue ordered by another ranking signal or threshold."""
        queue = review_queue(self.sequence, self.epoch_vit, self.stages, ranking, threshold)
        return NightExplanation(
            **{name: getattr(self, name) for name in self.__dataclass_fields__} | {"queue": queue}
        )
