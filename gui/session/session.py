"""One study open for review: the recording, both hypnograms, where the technician is, and
what the screen shows.

:class:`StudySession` is the model the Qt views draw (napari's ``ViewerModel``, in spirit):
navigation, keyboard scoring, undo/redo and the review queue are methods here, so every
behaviour of the review is tested without a screen. Views subscribe to its emitters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from sleepvit.explain import NightExplanation
from sleepvit.gui.session.events import Emitter
from sleepvit.gui.session.explanation import ROLLOUT, ExplainJob, StudyExplanation, to_bytes
from sleepvit.gui.session.review import ACCEPT_AI, NOT_REVIEWED, Review
from sleepvit.gui.session.review_queue import QueueWalk, queue_of
from sleepvit.gui.session.scoring import AiScoring, ReferenceScoring, kappa
from sleepvit.gui.session.settings import DisplaySettings
from sleepvit.gui.session.sidecar import RecordingIdentity, Sidecar
from sleepvit.hypnogram import UNS, Hypnogram
from sleepvit.io.quality import Problem, SignalQuality
from sleepvit.models.ood import OodVerdict
from sleepvit.rendering import RenderConfig
from sleepvit.slots import SLOT_NAMES
from sleepvit.study import Study


@dataclass
class OpenedStudy:
    """Everything read when a study is opened, before the AI scoring may have arrived."""

    study: Study
    identity: RecordingIdentity
    sidecar: Sidecar
    model_config: RenderConfig
    """The render config of the weights: the geometry and polarity the screen shares."""
    ai: AiScoring | None = None
    reference: ReferenceScoring | None = None
    notes: list[str] = field(default_factory=list)
    """Things the technician should know (sidecar location, scorings passed over, warnings)."""
    explanation: NightExplanation | None = None
    """The explanation of ``ai`` (relevance grids, embeddings, review queue), when known."""


class StudySession:
    """The review of one night.

    Emitters: ``epoch_changed(epoch)`` when the current epoch moves, ``stages_changed(epoch)``
    after every edit, ``ai_changed()`` when the AI scoring arrives, ``settings_changed()``,
    ``explanation_changed()`` when the heatmap is toggled, its method changes or something
    computed for an epoch (neighbours, a detail map) arrives.
    """

    def __init__(self, opened: OpenedStudy, reviewer: str, settings: DisplaySettings | None = None):
        self.study = opened.study
        self.identity = opened.identity
        self.sidecar = opened.sidecar
        self.model_config = opened.model_config
        self.reference = opened.reference
        self.notes = list(opened.notes)
        self.settings = settings or DisplaySettings()
        self.review = Review(self.sidecar, self.study.n_epochs, reviewer)
        self.ai: AiScoring | None = None
        self.queue: QueueWalk | None = None
        self.explanation: StudyExplanation | None = None
        self.heatmap_visible = False
        self.relevance_method = ROLLOUT
        """Of :data:`~sleepvit.explain.METHODS`: the map shown for the current epoch (the other
        epochs of a wide page keep the rollout every epoch has)."""
        self.epoch_changed = Emitter()
        self.stages_changed = Emitter()
        self.ai_changed = Emitter()
        self.settings_changed = Emitter()
        self.explanation_changed = Emitter()
        self._quality_reasons: list[str] | None = None
        self.review.changed.connect(self.stages_changed.emit)
        self._queue_position = -1
        audit = self.review.audit
        # Back where the technician left off: after the last epoch they edited.
        self.current = min(audit[-1].epoch + 1, self.n_epochs - 1) if audit else 0
        if opened.ai is not None:
            self._take_ai(opened.ai, opened.explanation, self.notes)

    # ------------------------------------------------------------ the night

    @property
    def n_epochs(self) -> int:
        return self.study.n_epochs

    @property
    def epoch_s(self) -> float:
        return self.model_config.epoch_s

    def clock_time(self, epoch: int, seconds: float = 0.0) -> datetime:
        """Wall-clock time of ``seconds`` into ``epoch``."""
        return self.study.start + timedelta(seconds=epoch * self.epoch_s + seconds)

    # ------------------------------------------------------------ scorings

    def set_ai(self, ai: AiScoring, explanation: NightExplanation | None = None) -> None:
        """Take the AI scoring (made after opening) and its explanation, and keep both in
        the sidecar."""
        if len(ai.stages) != self.n_epochs:
            raise ValueError(f"AI scoring has {len(ai.stages)} epochs, the study {self.n_epochs}")
        self.sidecar.save_ai_scoring(ai.stages, ai.probabilities, ai.epoch_vit, ai.info)
        if explanation is not None:
            self.sidecar.save_explanation(to_bytes(explanation))
        else:
            self.sidecar.forget_explanation()
        self._take_ai(ai, explanation, self.notes)
        self.ai_changed.emit()
        self.explanation_changed.emit()

    def _take_ai(
        self, ai: AiScoring, explanation: NightExplanation | None, notes: list[str]
    ) -> None:
        self.ai = ai
        self.explanation = None
        if explanation is not None and np.array_equal(explanation.stages, ai.stages):
            self.explanation = StudyExplanation(explanation, ai.info.get("source", ""))
            # One queue for the screen and the report: the one the explanation was saved with.
            self.queue = QueueWalk(explanation.queue)
        else:
            if explanation is not None:
                notes.append("the explanations found explain another scoring; not shown")
            self.queue = QueueWalk(queue_of(ai))

    @property
    def ood_warning(self) -> OodVerdict | None:
        """The AI scoring's out-of-distribution verdict when it fired (the recording is unlike
        the training data: every epoch needs review), else ``None``; its
        :meth:`~sleepvit.models.ood.OodVerdict.message` is the one-line warning."""
        verdict = self.ai.ood if self.ai is not None else None
        return verdict if verdict is not None and verdict.fired else None

    def ai_stage(self, epoch: int) -> int | None:
        if self.ai is None:
            return None
        code = int(self.ai.stages[epoch])
        return None if code == UNS else code  # UNS: the scoring does not cover this epoch

    def reviewed_stages(self) -> np.ndarray:
        """The night as it stands: the technician's stage where set, the AI's elsewhere."""
        technician = self.review.stages
        fallback = self.ai.stages if self.ai is not None else np.full(self.n_epochs, UNS, np.int8)
        return np.where(technician != NOT_REVIEWED, technician, fallback).astype(np.int8)

    def changed_epochs(self) -> np.ndarray:
        """Epochs where the technician's stage differs from the AI's."""
        if self.ai is None:
            return np.flatnonzero(self.review.reviewed)
        technician = self.review.stages
        return np.flatnonzero((technician != NOT_REVIEWED) & (technician != self.ai.stages))

    def reviewed_hypnogram(self) -> Hypnogram:
        """The reviewed night, carrying the AI's probabilities (its confidence stays visible)."""
        probabilities = self.ai.probabilities if self.ai is not None else None
        start = self.study.start
        return Hypnogram(self.reviewed_stages(), start=start, probabilities=probabilities)

    def reference_kappa(self) -> tuple[float | None, float | None]:
        """Cohen's κ of the scoring on file against the AI's and against the reviewed night."""
        if self.reference is None:
            return None, None
        ai = kappa(self.reference.stages, self.ai.stages) if self.ai is not None else None
        return ai, kappa(self.reference.stages, self.reviewed_stages())

    # ------------------------------------------------------------ signal quality

    def quality(self) -> SignalQuality | None:
        """What each slot of each epoch is worth, as the AI's scoring judged it (with the
        model's notch; :mod:`sleepvit.io.quality`); ``None`` when it is unknown."""
        quality = self.study.quality
        if quality is None or quality.n_epochs != self.n_epochs:
            return None
        return quality.notched(self.model_config.notch_hz)

    def quality_reason(self, epoch: int) -> str:
        """Why ``epoch`` is not scored or scored without a signal (``""`` when all is well)."""
        if self._quality_reasons is None:
            quality = self.quality()
            self._quality_reasons = (
                quality.reasons() if quality is not None else [""] * self.n_epochs
            )
        return self._quality_reasons[epoch]

    def unusable_slots(self, epoch: int) -> dict[str, str]:
        """Slots of ``epoch`` that the model could not read, with the problem (``flat``…)."""
        quality = self.quality()
        if quality is None:
            return {}
        return {
            slot: Problem(int(code)).text
            for slot, code in zip(SLOT_NAMES, quality.problems[epoch], strict=True)
            if code and slot in self.study.signals
        }

    def gap_spans(self, first_s: float, stop_s: float) -> list[tuple[float, float]]:
        """Interruptions of the recording (EDF+D gaps) overlapping ``first_s``–``stop_s``,
        as ``(start, end)`` seconds from the recording's start."""
        spans = []
        for onset, length in self.study.gaps:
            start, end = max(onset, first_s), min(onset + length, stop_s)
            if end > start:
                spans.append((float(start), float(end)))
        return spans

    def no_data_epochs(self) -> np.ndarray:
        """bool ``[n_epochs]``: epochs (mostly) inside an interruption of the recording."""
        quality = self.quality()
        return quality.no_data if quality is not None else np.zeros(self.n_epochs, bool)

    # ------------------------------------------------------------ explanations

    def toggle_heatmap(self) -> bool:
        """Show or hide the relevance map on the signals; returns whether it is shown."""
        self.heatmap_visible = not self.heatmap_visible
        self.explanation_changed.emit()
        return self.heatmap_visible

    def set_relevance_method(self, method: str) -> None:
        """Explain the current epoch by ``method`` (rollout is every epoch's; the others are
        computed on request, see :meth:`explain_jobs`); shows the heatmap."""
        self.relevance_method = method
        self.heatmap_visible = True
        self.explanation_changed.emit()

    def relevance_grid(self, epoch: int) -> np.ndarray | None:
        """The map drawn on ``epoch``: the chosen method's for the current epoch once it is
        computed, the rollout otherwise; ``None`` for an epoch the AI did not score."""
        if self.explanation is None:
            return None
        if epoch == self.current and self.relevance_method != ROLLOUT:
            detail = self.explanation.grid(epoch, self.relevance_method)
            if detail is not None:
                return detail
        return self.explanation.grid(epoch)

    def shown_method(self, epoch: int) -> str:
        """The method of the map :meth:`relevance_grid` gives for ``epoch``."""
        if (
            self.explanation is not None
            and epoch == self.current
            and self.explanation.grid(epoch, self.relevance_method) is not None
        ):
            return self.relevance_method
        return ROLLOUT

    def explain_jobs(self) -> list[ExplainJob]:
        """What is still to compute for the current epoch (neighbours; the detail map)."""
        if self.explanation is None:
            return []
        return self.explanation.jobs(self.current, self.relevance_method)

    def take_explained(self, job: ExplainJob, result=None, failure: str | None = None) -> None:
        """Keep what was computed for ``job`` (or why it failed) and tell the views."""
        if self.explanation is None:
            return
        if failure is not None:
            self.explanation.take_failure(job, failure)
        else:
            self.explanation.take(job, result)
        self.explanation_changed.emit()

    # ------------------------------------------------------------ navigation

    @property
    def page_epochs(self) -> int:
        return self.settings.page_epochs

    @property
    def page_start(self) -> int:
        return (self.current // self.page_epochs) * self.page_epochs

    def go_to(self, epoch: int) -> None:
        epoch = int(np.clip(epoch, 0, self.n_epochs - 1))
        if self.queue is not None:
            position = self.queue.position_of(epoch)
            if position is not None:
                self._queue_position = position
        if epoch != self.current:
            self.current = epoch
            self.epoch_changed.emit(epoch)

    def step(self, epochs: int) -> None:
        self.go_to(self.current + epochs)

    def step_page(self, pages: int) -> None:
        self.go_to(self.page_start + pages * self.page_epochs)

    def first(self) -> None:
        self.go_to(0)

    def last(self) -> None:
        self.go_to(self.n_epochs - 1)

    def next_uncertain(self) -> bool:
        """Go to the next unreviewed epoch of the review queue; False when none is left."""
        if self.queue is None:
            return False
        position = self.queue.next_position(self._queue_position, self.review.reviewed)
        if position is None:
            return False
        self._queue_position = position
        self.go_to(int(self.queue.epochs[position]))
        return True

    def previous_uncertain(self) -> bool:
        if self.queue is None:
            return False
        position = self.queue.previous_position(self._queue_position)
        if position is None:
            return False
        self._queue_position = position
        self.go_to(int(self.queue.epochs[position]))
        return True

    # ------------------------------------------------------------ scoring with the keyboard

    def score_current(self, stage: int) -> None:
        """Set the technician's stage of the current epoch and move to the next one."""
        self.review.score(self.current, stage)
        self.step(1)

    def accept_ai(self) -> bool:
        """Take the AI's stage for the current epoch and move on; False while there is none."""
        stage = self.ai_stage(self.current)
        if stage is None:
            return False
        self.review.score(self.current, stage, ACCEPT_AI)
        self.step(1)
        return True

    def undo(self) -> bool:
        epoch = self.review.undo()
        if epoch is not None:
            self.go_to(epoch)
        return epoch is not None

    def redo(self) -> bool:
        epoch = self.review.redo()
        if epoch is not None:
            self.go_to(epoch)
        return epoch is not None

    # ------------------------------------------------------------ settings

    def set_settings(self, settings: DisplaySettings) -> None:
        if settings != self.settings:
            self.settings = settings
            self.settings_changed.emit()

    def close(self) -> None:
        self.sidecar.close()
