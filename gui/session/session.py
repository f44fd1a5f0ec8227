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

from sleepvit.gui.session.events import Emitter
from sleepvit.gui.session.review import ACCEPT_AI, NOT_REVIEWED, Review
from sleepvit.gui.session.review_queue import ReviewQueue
from sleepvit.gui.session.scoring import AiScoring, ReferenceScoring, kappa
from sleepvit.gui.session.settings import DisplaySettings
from sleepvit.gui.session.sidecar import RecordingIdentity, Sidecar
from sleepvit.hypnogram import UNS, Hypnogram
from sleepvit.rendering import RenderConfig
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


class StudySession:
    """The review of one night.

    Emitters: ``epoch_changed(epoch)`` when the current epoch moves, ``stages_changed(epoch)``
    after every edit, ``ai_changed()`` when the AI scoring arrives, ``settings_changed()``.
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
        self.queue: ReviewQueue | None = None
        self.epoch_changed = Emitter()
        self.stages_changed = Emitter()
        self.ai_changed = Emitter()
        self.settings_changed = Emitter()
        self.review.changed.connect(self.stages_changed.emit)
        self._queue_position = -1
        audit = self.review.audit
        # Back where the technician left off: after the last epoch they edited.
        self.current = min(audit[-1].epoch + 1, self.n_epochs - 1) if audit else 0
        if opened.ai is not None:
            self._take_ai(opened.ai)

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

    def set_ai(self, ai: AiScoring) -> None:
        """Take the AI scoring (made after opening) and keep it in the sidecar."""
        if len(ai.stages) != self.n_epochs:
            raise ValueError(f"AI scoring has {len(ai.stages)} epochs, the study {self.n_epochs}")
        self.sidecar.save_ai_scoring(ai.stages, ai.probabilities, ai.epoch_vit, ai.info)
        self._take_ai(ai)
        self.ai_changed.emit()

    def _take_ai(self, ai: AiScoring) -> None:
        self.ai = ai
        self.queue = ReviewQueue.by_confidence(ai)

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
