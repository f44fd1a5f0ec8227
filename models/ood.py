"""How unlike the training data a recording is: the Mahalanobis distance of its embeddings.

Each epoch's EpochViT embedding is compared with the embeddings of the nights the weights
were trained on, summarised by one mean per stage and a covariance shared by the stages
(Lee et al., 2018, "A simple unified framework for detecting out-of-distribution samples").
An epoch's score is its distance to the nearest stage mean in units of that spread; a night's
score is the median over its scored epochs, so a few artefacts do not make a night unusual
but an amplifier, derivation or population the model never saw does.

The reference (:class:`EmbeddingReference`) is fitted by ``sleepvit calibrate`` from the
weights' own training nights and stored in the weights folder as
:data:`REFERENCE_FILE` (plain arrays, loaded without pickle), so it is recomputed whenever the
weights change. Numpy only: the ONNX scoring runtime uses it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepvit.errors import ModelError
from sleepvit.io.atomic import atomic_path

REFERENCE_FILE = "training_embeddings.npz"
SHRINKAGE = 0.01
"""Share of the mean variance added to the covariance's diagonal: embeddings of a few nights
span fewer directions than they have dimensions, and the inverse must stay finite."""


@dataclass(frozen=True)
class EmbeddingReference:
    """Stage means ``[n_classes, D]`` and shared precision ``[D, D]`` of training embeddings.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 5, 2000)
    >>> embeddings = rng.normal(size=(2000, 8)) + 4.0 * np.eye(5, 8)[labels]
    >>> reference = EmbeddingReference.fit(embeddings, labels)
    >>> typical = np.median(reference.epoch_scores(embeddings))
    >>> shifted = np.median(reference.epoch_scores(3.0 * embeddings))
    >>> bool(2.0 < typical < 4.0), bool(shifted > 2 * typical)
    (True, True)
    """

    means: np.ndarray
    precision: np.ndarray
    epochs: int
    """Training epochs the reference was fitted on."""

    @classmethod
    def fit(cls, embeddings: np.ndarray, labels: np.ndarray) -> EmbeddingReference:
        """Fit on embeddings ``[n, D]`` of training epochs with their true stages (``UNS`` and
        non-finite rows left out); every stage needs at least one epoch."""
        embeddings = np.asarray(embeddings, np.float64)
        labels = np.asarray(labels)
        keep = (labels >= 0) & np.isfinite(embeddings).all(axis=1)
        embeddings, labels = embeddings[keep], labels[keep].astype(np.int64)
        n_classes = int(labels.max()) + 1 if labels.size else 0
        counts = np.bincount(labels, minlength=n_classes)
        if n_classes == 0 or (counts == 0).any():
            raise ModelError(
                "the reference nights lack a stage "
                f"(epochs per stage: {counts.tolist()}); give nights with every stage"
            )
        means = np.stack([embeddings[labels == c].mean(axis=0) for c in range(n_classes)])
        centred = embeddings - means[labels]
        covariance = centred.T @ centred / len(centred)
        covariance += SHRINKAGE * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
        return cls(means, np.linalg.inv(covariance), int(len(embeddings)))

    def epoch_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Distance ``[n]`` of each embedding to its nearest stage mean; NaN for NaN rows."""
        embeddings = np.asarray(embeddings, np.float64)
        scores = np.full(len(embeddings), np.nan)
        finite = np.isfinite(embeddings).all(axis=1)
        # (x − μ)ᵀ P (x − μ) expanded into matrix products: an 8-h night in milliseconds.
        x = embeddings[finite]
        projected = x @ self.precision
        squared = (
            (projected * x).sum(axis=1)[:, None]
            - 2.0 * projected @ self.means.T
            + np.einsum("cd,de,ce->c", self.means, self.precision, self.means)[None]
        )
        scores[finite] = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
        return scores

    def night_score(self, embeddings: np.ndarray, scored: np.ndarray | None = None) -> float:
        """Median :meth:`epoch_scores` over the ``scored`` epochs (default all); NaN if none."""
        scores = self.epoch_scores(embeddings)
        if scored is not None:
            scores = scores[np.asarray(scored, bool)]
        scores = scores[np.isfinite(scores)]
        return float(np.median(scores)) if scores.size else float("nan")

    def save(self, folder: str | Path) -> Path:
        """Write :data:`REFERENCE_FILE` into the weights ``folder``, atomically."""
        path = Path(folder) / REFERENCE_FILE
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                means=self.means.astype(np.float32),
                precision=self.precision.astype(np.float32),
                epochs=np.int64(self.epochs),
            )
        return path

    @classmethod
    def load(cls, folder: str | Path) -> EmbeddingReference | None:
        """The reference of a weights folder, or ``None`` when it has none (not calibrated)."""
        path = Path(folder) / REFERENCE_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    data["means"].astype(np.float64),
                    data["precision"].astype(np.float64),
                    int(data["epochs"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(
                f"unreadable training-embedding reference ({exc}); run sleepvit calibrate "
                "on the weights folder again",
                path,
            ) from exc


WARNING = "recording unlike the training data"
"""What a night whose verdict fired is, in every place that says so (terminal, summary, report,
desktop app)."""
ADVICE = "stages and confidence may be wrong, review the whole night"
"""What the technician should do about it."""


@dataclass(frozen=True)
class OodVerdict:
    """A night's out-of-distribution score against the thresholds of ``sleepvit calibrate``.

    >>> verdict = OodVerdict(score=9.2, threshold=6.0, epoch_threshold=8.0, unusual_share=0.7)
    >>> verdict.fired, verdict.to_dict()["verdict"]
    (True, 'unlike the training data')
    >>> verdict.message().split(":")[0]
    'recording unlike the training data (OOD score 9.2 > threshold 6.0; 70% of epochs unusual)'
    >>> OodVerdict.from_dict(verdict.to_dict()) == verdict
    True
    """

    score: float
    """Median epoch distance to the training embeddings (:meth:`EmbeddingReference.night_score`)."""
    threshold: float
    epoch_threshold: float
    unusual_share: float
    """Share of the scored epochs farther than ``epoch_threshold``."""

    @property
    def fired(self) -> bool:
        return bool(self.score > self.threshold)

    def evidence(self) -> str:
        """The numbers behind the verdict: the night's score against its threshold."""
        return (
            f"OOD score {self.score:.1f} > threshold {self.threshold:.1f}; "
            f"{self.unusual_share:.0%} of epochs unusual"
        )

    def message(self) -> str:
        """The one-line warning of a night that fired (the terminal's and the summary's)."""
        return f"{WARNING} ({self.evidence()}): {ADVICE}"

    def lines(self) -> tuple[str, str, str]:
        """The same warning as a headline, the evidence and the advice, each a sentence (the
        report's box and the desktop app's)."""
        return (
            WARNING[:1].upper() + WARNING[1:],
            self.evidence()[:1].upper() + self.evidence()[1:] + ".",
            ADVICE[:1].upper() + ADVICE[1:] + ".",
        )

    def to_dict(self) -> dict:
        """``ood`` of the summary JSON."""
        return {
            "score": self.score,
            "threshold": self.threshold,
            "fired": self.fired,
            "verdict": "unlike the training data" if self.fired else "like the training data",
            "epoch_threshold": self.epoch_threshold,
            "unusual_epoch_share": self.unusual_share,
        }

    @classmethod
    def from_dict(cls, ood: dict) -> OodVerdict:
        """The verdict back from :meth:`to_dict` (a summary JSON's ``ood``); ``ValueError``
        when a number is missing or not a number."""
        try:
            return cls(
                score=float(ood["score"]),
                threshold=float(ood["threshold"]),
                epoch_threshold=float(ood["epoch_threshold"]),
                unusual_share=float(ood["unusual_epoch_share"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an out-of-distribution verdict ({exc!r})") from exc


def ood_verdict(
    reference: EmbeddingReference,
    threshold: float,
    epoch_threshold: float,
    embeddings: np.ndarray,
    scored: np.ndarray,
) -> tuple[OodVerdict, np.ndarray]:
    """The night's verdict and every epoch's score ``[n]`` (NaN where not ``scored``)."""
    scores = reference.epoch_scores(embeddings)
    scores[~np.asarray(scored, bool)] = np.nan
    finite = scores[np.isfinite(scores)]
    verdict = OodVerdict(
        score=float(np.median(finite)) if finite.size else float("nan"),
        threshold=float(threshold),
        epoch_threshold=float(epoch_threshold),
        unusual_share=float(np.mean(finite > epoch_threshold)) if finite.size else 0.0,
    )
    return verdict, scores
