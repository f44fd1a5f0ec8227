"""The AI's explanations in the review: the heatmap, per-signal relevance, neighbours, and the
detail maps a technician asks for.

A night's explanation (:class:`~sleepvit.explain.NightExplanation`) comes with its AI
scoring: made from the same EpochViT pass when the study is scored here, or read from the
``STEM.relevance.npz`` that ``sleepvit score --explain`` wrote (:func:`find_explanation`),
and kept in the review file with the scoring, so a reopened study has its heatmaps at once.
It holds every epoch's attention-rollout grid (the torch-free map shown by default). Two
things are made per epoch on request, off the GUI thread (:func:`compute`):

- neighbour relevance (:func:`~sleepvit.explain.neighbour_relevance`: which neighbouring
  epochs moved the sequence model), in whatever backend scores;
- a detail map by another method of :data:`~sleepvit.explain.METHODS`: ``gradient``
  (torch-free too) or captum's Integrated Gradients and Occlusion when torch is installed.

:class:`StudyExplanation` caches both; it never invents a map for an epoch the model did not
score (``UNS``: no readable EEG, or a gap in the recording).
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepvit.errors import ModelError, SleepVitError
from sleepvit.explain import METHODS, EpochRelevance, NeighbourRelevance, NightExplanation
from sleepvit.gui.session.scoring import AiScoring, study_channels
from sleepvit.outputs import EXPLANATION, output_paths
from sleepvit.study import Study

ROLLOUT = "rollout"
NEIGHBOURS = "neighbours"
"""The job kind of neighbour relevance (the others are :data:`~sleepvit.explain.METHODS`)."""
CAPTUM_METHODS = ("ig", "occlusion")
METHOD_NAMES = {
    "rollout": "attention rollout",
    "gradient": "gradient-weighted attention",
    "ig": "Integrated Gradients (captum)",
    "occlusion": "Occlusion (captum)",
}
"""What the panel and the menu call each method of :data:`~sleepvit.explain.METHODS`."""
assert set(METHOD_NAMES) == set(METHODS)


def captum_installed() -> bool:
    """Whether torch and captum can be imported (the ``train`` extra), without importing them."""
    for name in ("torch", "captum"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):  # a broken or blocked install
            return False
    return True


def available_methods() -> tuple[str, ...]:
    """The relevance methods this installation can compute, in :data:`METHODS` order."""
    captum = captum_installed()
    return tuple(m for m in METHODS if m not in CAPTUM_METHODS or captum)


@dataclass(frozen=True)
class ExplainJob:
    """One thing to compute for one epoch: ``kind`` is :data:`NEIGHBOURS` or a method."""

    kind: str
    epoch: int


class StudyExplanation:
    """A night's explanation with what was computed on request since it was opened.

    Examples
    --------
    >>> p = np.tile(np.eye(5, dtype=np.float32)[2], (3, 1)); p[1] = np.nan
    >>> grids = np.zeros((3, 2, 15)); grids[:, 0, 3] = 1.0
    >>> night = NightExplanation(grids, ("EEG_C", "EOG_L"), np.ones(2, bool), p, p,
    ...                          np.zeros((3, 8)))
    >>> explanation = StudyExplanation(night, "test")
    >>> explanation.grid(0).argmax(), explanation.grid(1)      # epoch 1 was not scored
    (np.int64(3), None)
    >>> explanation.jobs(0, "ig")
    [ExplainJob(kind='neighbours', epoch=0), ExplainJob(kind='ig', epoch=0)]
    >>> explanation.take(ExplainJob("ig", 0), np.ones((2, 15)) / 30)
    >>> explanation.grid(0, "ig").sum().round(3), explanation.jobs(1, "ig")
    (np.float32(1.0), [])
    """

    def __init__(self, night: NightExplanation, source: str):
        self.night = night
        self.source = source
        """Where it came from, for the panel (``STEM.relevance.npz``, "scored here")."""
        self._details: dict[tuple[str, int], np.ndarray] = {}
        self._neighbours: dict[int, NeighbourRelevance] = {}
        self._failed: dict[ExplainJob, str] = {}

    @property
    def slots(self) -> tuple[str, ...]:
        return self.night.slots

    def scored(self, epoch: int) -> bool:
        return bool(self.night.scored[epoch])

    def grid(self, epoch: int, method: str = ROLLOUT) -> np.ndarray | None:
        """The relevance grid ``[slots, cols]`` of ``epoch`` by ``method``; ``None`` when the
        epoch was not scored or the method's map is not computed (yet)."""
        if not self.scored(epoch):
            return None
        if method == ROLLOUT:
            return self.night.relevance[epoch]
        return self._details.get((method, epoch))

    def epoch(self, epoch: int, method: str = ROLLOUT) -> EpochRelevance | None:
        grid = self.grid(epoch, method)
        if grid is None:
            return None
        return EpochRelevance(grid, self.slots, self.night.epoch_s, method)

    def neighbours(self, epoch: int) -> NeighbourRelevance | None:
        return self._neighbours.get(epoch)

    def failure(self, job: ExplainJob) -> str | None:
        """Why ``job`` could not be computed, if it was tried and failed."""
        return self._failed.get(job)

    def jobs(self, epoch: int, method: str = ROLLOUT) -> list[ExplainJob]:
        """What is still to compute so that ``epoch`` is fully explained by ``method``."""
        if not self.scored(epoch):
            return []
        wanted = [ExplainJob(NEIGHBOURS, epoch)]
        if method != ROLLOUT:
            wanted.append(ExplainJob(method, epoch))
        return [job for job in wanted if not self._has(job) and job not in self._failed]

    def _has(self, job: ExplainJob) -> bool:
        if job.kind == NEIGHBOURS:
            return job.epoch in self._neighbours
        return (job.kind, job.epoch) in self._details

    def take(self, job: ExplainJob, result) -> None:
        """Keep what :func:`compute` returned for ``job``."""
        if job.kind == NEIGHBOURS:
            self._neighbours[job.epoch] = result
        else:
            self._details[(job.kind, job.epoch)] = np.asarray(result, np.float32)

    def take_failure(self, job: ExplainJob, message: str) -> None:
        self._failed[job] = message


def compute(job: ExplainJob, study: Study, night: NightExplanation, backend):
    """Compute ``job`` with a loaded backend (:func:`~sleepvit.models.backends.load_backend`):
    a :class:`~sleepvit.explain.NeighbourRelevance` or a detail grid ``[slots, cols]``.

    Raises :class:`~sleepvit.errors.ModelError` when ``backend`` is not the model that made
    the night's explanation (its neighbours and maps would be another model's), or when a
    captum method needs torch that is not installed.
    """
    check_same_model(night, backend)
    if job.kind == NEIGHBOURS:
        from sleepvit.explain import neighbour_relevance

        stage = int(night.stages[job.epoch])
        return neighbour_relevance(backend, night.embeddings, job.epoch, stage, night.scored)
    from sleepvit.explain import relevance
    from sleepvit.rendering import render_epochs
    from sleepvit.slots import SLOT_NAMES

    config = backend.render_config
    rendered = render_epochs(study, config, [job.epoch])
    present = np.atleast_2d(rendered.present)
    if study.quality is not None:
        # What the scoring read: a slot unreadable in this epoch was masked there too.
        columns = [SLOT_NAMES.index(slot) for slot in config.slots]
        present = present & study.quality.notched(config.notch_hz).usable[[job.epoch]][:, columns]
    target = int(night.stages[job.epoch])
    return relevance(backend, rendered.images, present, config, job.kind, target=target)[0]


def check_same_model(night: NightExplanation, backend) -> None:
    """Raise :class:`~sleepvit.errors.ModelError` unless ``backend`` made ``night``."""
    made_by = night.model
    if not made_by:
        return
    current = {
        "name": backend.model_name,
        "version": backend.config.version,
        "render_config": backend.render_config.fingerprint(),
    }
    if any(made_by.get(key, value) != value for key, value in current.items()):
        raise ModelError(
            f"explained this night with {made_by.get('name')} {made_by.get('version', '')}, "
            f"not with the loaded {current['name']} {current['version']}; open the study with "
            "those weights to see its neighbours and detail maps",
            backend.folder,
            settings=("weights",),
        )


# ---------------------------------------------------------------- finding and keeping


def to_bytes(night: NightExplanation) -> bytes:
    """The ``STEM.relevance.npz`` content of ``night`` (to keep in the review file)."""
    buffer = io.BytesIO()
    night.write(buffer)
    return buffer.getvalue()


def from_bytes(content: bytes, name: str | Path) -> NightExplanation:
    """:meth:`NightExplanation.load` of bytes; ``name`` says where they came from in errors."""
    return NightExplanation.load(name, io.BytesIO(content))


def mismatch(night: NightExplanation, study: Study, ai: AiScoring | None) -> str:
    """Why ``night`` is not the explanation of this ``study`` and its ``ai`` scoring
    (``""`` when it is)."""
    if len(night) != study.n_epochs:
        return f"it covers {len(night)} epochs, the recording {study.n_epochs}"
    if night.channels and night.channels != study_channels(study):
        return "it was made from other channels than the current channel map"
    if ai is not None and not np.array_equal(night.stages, ai.stages):
        return "it explains another scoring than the one this review is based on"
    return ""


def find_explanation(
    study: Study, ai: AiScoring | None, folders: Iterable[str | Path] = ()
) -> tuple[NightExplanation | None, Path | None, list[str]]:
    """The ``STEM.relevance.npz`` of ``study`` that explains ``ai`` (any, when ``ai`` is
    ``None``): next to the recording, then in ``folders``. Returns it, its path and notes on
    any passed over."""
    path = Path(study.path)
    notes: list[str] = []
    for folder in dict.fromkeys([path.parent, *map(Path, folders)]):
        candidate = output_paths(folder, path.stem, explain=True)[EXPLANATION]
        if not candidate.is_file():
            continue
        try:
            night = NightExplanation.load(candidate)
        except SleepVitError as exc:
            notes.append(f"explanations not used: {exc}")
            continue
        why = mismatch(night, study, ai)
        if why:
            notes.append(f"{candidate.name} not used: {why}")
            continue
        return night, candidate, notes
    return None, None, notes


def ai_from_explanation(night: NightExplanation, source: Path, study: Study) -> AiScoring:
    """The AI scoring a ``STEM.relevance.npz`` carries (stages, both models' probabilities)."""
    return AiScoring(
        night.stages.copy(),
        night.sequence,
        night.epoch_vit,
        {
            "model": dict(night.model),
            "source": str(source),
            "channels": dict(night.channels) or study_channels(study),
        },
    )
