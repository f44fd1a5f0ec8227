"""Opening, scoring and explaining a study off the GUI thread, with progress and cancel.

:class:`OpenStudyThread` runs :func:`~sleepvit.gui.session.opening.open_study`, hands the
opened study to the GUI thread (``opened``) so the first page shows at once, then scores the
night if no earlier AI scoring was found (``scored``). The sidecar connection changes hands
with ``opened``: the worker never touches it afterwards.

:class:`ExplainThread` computes what the AI panel asks for one epoch at a time (neighbour
relevance, a detail map: :func:`~sleepvit.gui.session.explanation.compute`); a request for
another epoch replaces the ones not started, so paging quickly never queues up work.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from sleepvit.errors import Cancelled, SleepVitError
from sleepvit.gui.session.explanation import ExplainJob, compute
from sleepvit.gui.session.opening import OpenRequest, open_study
from sleepvit.gui.session.scoring import score_study_for_review
from sleepvit.gui.session.session import OpenedStudy

log = logging.getLogger(__name__)

_SCORERS: dict[tuple[str, str], object] = {}
_SCORERS_LOCK = threading.Lock()

FIRST_PAGE_WAIT_S = 5.0
"""Longest wait for the first page before scoring starts anyway (a window that never paints)."""

STEP_LABELS = {
    "load": "Loading the recording",
    "model": "Loading the model",
    "render": "Drawing epochs for the AI",
    "epoch_vit": "AI scoring epochs",
}


def scorer_for(weights: Path | None, backend: str):
    """The loaded models, kept for the app's lifetime: opening a second study costs no load."""
    from sleepvit.models.backends import load_backend

    key = (str(weights or ""), backend)
    with _SCORERS_LOCK:
        if key not in _SCORERS:
            _SCORERS[key] = load_backend(weights, backend)
        return _SCORERS[key]


class OpenStudyThread(QThread):
    """Open ``request`` and, unless ``score`` is false or a scoring exists, score it.

    Signals: ``progress(step, done, total)`` · ``opened(OpenedStudy)`` ·
    ``scored((AiScoring, NightExplanation))``
    · ``failed(error, stage)`` with the :class:`~sleepvit.errors.SleepVitError` (or the
    message of an internal error) and stage ``open`` or ``score`` · ``cancelled(stage)``.
    """

    progress = Signal(str, int, int)
    opened = Signal(object)
    scored = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal(str)

    def __init__(self, request: OpenRequest, parent=None, opened_study: OpenedStudy | None = None):
        super().__init__(parent)
        self.request = request
        self.opened_study = opened_study
        """Given to only score a study that is already open (e.g. after a cancel)."""
        self._cancel = threading.Event()
        self.first_page_shown = threading.Event()
        """Set by the window once the study's first page is painted: scoring waits for it, so
        the technician sees the night before the models take the CPU."""

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        stage = "open"
        try:
            opened = self.opened_study
            if opened is None:
                opened = open_study(self.request, self.progress.emit, self.is_cancelled)
                self.opened.emit(opened)
                self.first_page_shown.wait(timeout=FIRST_PAGE_WAIT_S)
            if opened.ai is not None or self.is_cancelled():
                if self.is_cancelled():
                    self.cancelled.emit("score")
                return
            stage = "score"
            self.progress.emit("model", 0, 1)
            scorer = scorer_for(self.request.weights, self.request.backend)
            scored = score_study_for_review(
                opened.study, scorer, self.progress.emit, self.is_cancelled
            )
            self.scored.emit(scored)
        except Cancelled:
            self.cancelled.emit(stage)
        except SleepVitError as exc:
            self.failed.emit(exc, stage)
        except Exception as exc:  # a bug must reach the user as a dialog, not kill the app
            log.exception("internal error while %s %s", stage, self.request.path)
            self.failed.emit(
                f"{self.request.path}: internal error ({type(exc).__name__}: {exc}); the log "
                "has the details",
                stage,
            )


class ExplainThread(QThread):
    """Computes :class:`~sleepvit.gui.session.explanation.ExplainJob` s for one study.

    Signals: ``done(job, result)`` · ``failed(job, message)`` (a one-line reason: captum
    missing, another model's explanation, a model error).
    """

    done = Signal(object, object)
    failed = Signal(object, str)

    def __init__(self, study, night, weights: Path | None, backend: str, parent=None):
        super().__init__(parent)
        self.study = study
        self.night = night
        self.weights = weights
        self.backend = backend
        self._jobs: list[ExplainJob] = []
        self._wake = threading.Condition()
        self._stopping = False

    def request(self, jobs: list[ExplainJob]) -> None:
        """Compute ``jobs`` next, dropping those asked for earlier and not started."""
        with self._wake:
            self._jobs = list(jobs)
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._jobs = []
            self._wake.notify()

    def run(self) -> None:
        while True:
            with self._wake:
                while not self._jobs and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    self.study = self.night = None  # a retired thread holds no night
                    return
                job = self._jobs.pop(0)
            try:
                scorer = scorer_for(self.weights, self.backend)
                self.done.emit(job, compute(job, self.study, self.night, scorer))
            except SleepVitError as exc:
                self.failed.emit(job, str(exc))
            except Exception as exc:  # noqa: BLE001 — a bug must not kill the app
                log.exception("internal error explaining epoch %d", job.epoch + 1)
                self.failed.emit(job, f"internal error ({type(exc).__name__}: {exc})")
