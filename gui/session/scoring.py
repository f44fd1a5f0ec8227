"""The scorings a review is made of: the AI's (scored here or by ``sleepvit score``) and a
technician scoring that already sits next to the recording.

A study scored earlier by ``sleepvit score`` opens without rescoring: its
``STEM.hypnogram.csv`` (stages and probabilities) and ``STEM.summary.json`` (model, channels,
out-of-distribution verdict) are read from the recording's folder or from a folder the user
names. The scoring is only
taken when it was made from the channels the study is mapped to now.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from sleepvit.errors import HypnogramError, SleepVitError
from sleepvit.explain import NightExplanation
from sleepvit.hypnogram import Hypnogram
from sleepvit.models.ood import OodVerdict

# Imported with the app, not when the first study opens: it brings the report's matplotlib
# PDF backend (half a second), which export needs anyway.
from sleepvit.outputs import output_paths
from sleepvit.study import Study

Progress = Callable[[str, int, int], None]
"""``progress(step, done, total)``: ``render`` and ``epoch_vit`` epochs, then ``sequence``."""


@dataclass(frozen=True)
class AiScoring:
    """The model's stages of every epoch, with the probabilities behind them."""

    stages: np.ndarray
    """int8 stage codes ``[n_epochs]`` (``UNS`` where the scoring does not cover the epoch)."""
    probabilities: np.ndarray
    """float32 ``[n_epochs, 5]`` in :data:`~sleepvit.hypnogram.STAGES` order, calibrated, with
    the SequenceTransformer's context; NaN where not covered."""
    epoch_vit: np.ndarray | None = None
    """EpochViT alone (each epoch on its own screen), when the scoring was made here."""
    info: dict = field(default_factory=dict)
    """``model`` (name, version, backend), ``source`` (where it came from), ``channels``
    (slot → label it was made from), ``ood`` (the night's out-of-distribution verdict as the
    summary JSON has it; absent or ``None`` when the weights were not calibrated)."""

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the AI's stage per epoch; 0 where the scoring does not cover it."""
        return np.nan_to_num(self.probabilities, nan=0.0).max(axis=1)

    @property
    def model_label(self) -> str:
        """``name version (backend)`` for the panel and report, e.g. ``sleepvit-demo 0.1.0``."""
        model = self.info.get("model") or {}
        text = f"{model.get('name', 'unknown model')} {model.get('version', '')}".strip()
        return f"{text} ({model['backend']})" if model.get("backend") else text

    @property
    def ood(self) -> OodVerdict | None:
        """How unlike the training data the night is (:mod:`sleepvit.models.ood`); ``None``
        when the scoring carries no verdict."""
        ood = self.info.get("ood")
        return OodVerdict.from_dict(ood) if ood else None

    def hypnogram(self, start: datetime | None) -> Hypnogram:
        return Hypnogram(self.stages, start=start, probabilities=self.probabilities)

    @classmethod
    def from_hypnogram(
        cls, hypnogram: Hypnogram, epoch_vit: np.ndarray | None = None, **info
    ) -> AiScoring:
        if hypnogram.probabilities is None:
            raise ValueError("an AI scoring needs per-epoch probabilities")
        return cls(hypnogram.stages.copy(), hypnogram.probabilities, epoch_vit, info)


@dataclass(frozen=True)
class ReferenceScoring:
    """A scoring found next to the recording (an earlier manual scoring), shown beside the AI's."""

    stages: np.ndarray
    path: Path


def score_study_for_review(
    study: Study,
    scorer,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[AiScoring, NightExplanation]:
    """Score ``study`` with a loaded backend (:func:`~sleepvit.models.backends.load_backend`):
    the AI scoring and its explanation (every epoch's relevance grid, from the same EpochViT
    pass, :meth:`~sleepvit.explain.NightExplanation.from_scores`).

    ``progress(step, done, total)`` follows the epochs rendered and run through EpochViT;
    ``cancelled()`` is asked before each block (:func:`sleepvit.pipeline.score_study`), which
    stops with :class:`~sleepvit.errors.Cancelled`.
    """
    from sleepvit.pipeline import score_study

    n = study.n_epochs
    done = {"render": 0, "epoch_vit": 0}

    def step(stage: str, epochs: int) -> None:
        done[stage] += epochs
        if progress is not None:
            progress(stage, done[stage], n)

    hypnogram, scores = score_study(
        study, scorer, progress=step, cancelled=cancelled, relevance=True
    )
    ai = AiScoring.from_hypnogram(
        hypnogram,
        epoch_vit=scores.epoch_vit,
        model={
            "name": scorer.model_name,
            "version": scorer.config.version,
            "backend": scorer.name,
        },
        source="scored when the study was opened",
        channels=study_channels(study),
        ood=hypnogram.metadata.get("ood"),
    )
    return ai, NightExplanation.from_scores(scores, hypnogram.stages, scorer, study)


def find_scored_outputs(
    study: Study, folders: Iterable[str | Path] = ()
) -> tuple[AiScoring | None, list[str]]:
    """The scoring ``sleepvit score`` wrote for ``study``, and notes on any it passed over.

    Looks for ``STEM.hypnogram.csv`` next to the recording, then in ``folders``. A scoring
    whose ``summary.json`` names other channels than the study is mapped to now (another
    channel map) is passed over, as is one that cannot be read.
    """
    from sleepvit.io.hypnograms import read_hypnogram

    path = Path(study.path)
    notes: list[str] = []
    for folder in dict.fromkeys([path.parent, *map(Path, folders)]):
        files = output_paths(folder, path.stem)
        if not files["csv"].is_file():
            continue
        try:
            hypnogram = read_hypnogram(files["csv"], study.start, study.duration_s)
            summary = _read_summary(files["summary"])
        except SleepVitError as exc:
            notes.append(f"scored outputs not used: {exc}")
            continue
        if hypnogram.probabilities is None:
            notes.append(f"{files['csv']} has no probability columns; it is not a SleepViT scoring")
            continue
        channels = {slot: c["label"] for slot, c in (summary.get("channels") or {}).items()}
        if channels and channels != study_channels(study):
            notes.append(
                f"{files['csv'].name} was scored from other channels than the current channel "
                "map; scoring again"
            )
            continue
        ood = summary.get("ood")
        if ood:
            try:
                OodVerdict.from_dict(ood)
            except ValueError as exc:
                notes.append(
                    f"{files['summary'].name}: out-of-distribution verdict not used "
                    f"({exc}); score the night again to judge it"
                )
                ood = None
        return (
            AiScoring.from_hypnogram(
                hypnogram,
                model=summary.get("model") or {},
                source=str(files["csv"]),
                channels=channels or study_channels(study),
                ood=ood,
            ),
            notes,
        )
    return None, notes


def find_reference(study: Study) -> tuple[ReferenceScoring | None, list[str]]:
    """The technician scoring stored next to the recording (EDF+, CSV, XML, …), if any."""
    from sleepvit.io.hypnograms import find_hypnogram, read_hypnogram

    found = find_hypnogram(study.path)
    if found is None:
        return None, []
    try:
        hypnogram = read_hypnogram(found, study.start, study.duration_s)
    except SleepVitError as exc:
        return None, [f"scoring on file not shown: {exc}"]
    return ReferenceScoring(hypnogram.stages, found), []


def kappa(reference: np.ndarray, other: np.ndarray) -> float | None:
    """Cohen's κ of two scorings of the same epochs (:func:`sleepvit.metrics.agreement`),
    ``None`` when they share no scored epoch or κ is undefined.

    >>> round(kappa(np.array([0, 2, 2, 4]), np.array([0, 2, 1, 4])), 3)
    0.667
    """
    from sleepvit.metrics.agreement import agreement

    try:
        return agreement(reference, other)["kappa"]
    except HypnogramError:
        return None


def study_channels(study: Study) -> dict[str, str]:
    """Slot → source channel label: what a scoring was made from."""
    return {slot: signal.label for slot, signal in study.signals.items()}


def _read_summary(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HypnogramError(
            f"is not a readable summary ({exc}); score the night again", path
        ) from exc
