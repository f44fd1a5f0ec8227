"""The SleepViT main window: menus, keyboard scoring, opening, export, errors.

Every key a technician uses is a window-wide action, so it works wherever the focus is.
Every action that can fail runs through :meth:`MainWindow._guarded`: a
:class:`~sleepvit.errors.SleepVitError` (bad file, missing channel, model error, read-only
folder, full disk) becomes a dialog and the app goes on with what it had.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sleepvit.explain import METHODS
from sleepvit.gui.qt.ai_panel import AiPanel
from sleepvit.gui.qt.dialogs import (
    AuditLogDialog,
    ChannelMapDialog,
    DisplaySettingsDialog,
    show_error,
)
from sleepvit.gui.qt.navigator import HypnogramNavigator
from sleepvit.gui.qt.signal_view import SignalView
from sleepvit.gui.qt.worker import STEP_LABELS, ExplainThread, OpenStudyThread
from sleepvit.gui.session.explanation import METHOD_NAMES, ROLLOUT, available_methods
from sleepvit.gui.session.opening import CHANNEL_MAP, OpenRequest
from sleepvit.gui.session.session import OpenedStudy, StudySession
from sleepvit.gui.session.settings import (
    PAGE_SECONDS,
    Preferences,
    default_reviewer,
    next_gain,
)
from sleepvit.gui.session.sidecar import NEXT_TO_RECORDING
from sleepvit.hypnogram import STAGE_CODE, stage_name
from sleepvit.models.backends import DEFAULT_BACKEND

log = logging.getLogger(__name__)

RECORDING_FILTER = "Recordings (*.edf *.EDF *.bdf *.BDF *.rec *.REC);;All files (*)"
RECORDING_SUFFIXES = (".edf", ".bdf", ".rec")
SCORING_KEYS: dict[str, tuple[str, ...]] = {
    "W": ("W", "0"),
    "N1": ("1",),
    "N2": ("2",),
    "N3": ("3",),
    "REM": ("R", "5"),
}
"""AASM/ISR habits: letters or the digits of the R&K codes, on the main keys or the keypad."""
EXPLAIN_DELAY_MS = 300
"""How long the technician stays on an epoch before its neighbours are computed."""
DETAIL_METHOD = "ig"
"""The detail map of ``D``: Integrated Gradients (captum), else the torch-free gradient map."""


def _key_sequences(keys: tuple[str, ...]) -> list[QKeySequence]:
    sequences = [QKeySequence(key) for key in keys]
    sequences += [
        QKeySequence(Qt.KeyboardModifier.KeypadModifier | Qt.Key(ord(key)))
        for key in keys
        if key.isdigit()
    ]
    return sequences


class MainWindow(QMainWindow):
    def __init__(
        self,
        preferences: Preferences | None = None,
        weights: Path | None = None,
        backend: str = DEFAULT_BACKEND,
        scored_folders: tuple[Path, ...] = (),
        reviewer: str | None = None,
        save_preferences: bool = True,
    ):
        super().__init__()
        self.preferences = preferences or Preferences.load()
        self.weights = weights
        self.backend = backend
        self.scored_folders = tuple(scored_folders)
        if self.preferences.scored_folder:
            self.scored_folders += (Path(self.preferences.scored_folder),)
        self.reviewer = reviewer or self.preferences.reviewer or default_reviewer()
        self.save_preferences = save_preferences
        self.session: StudySession | None = None
        self.worker: OpenStudyThread | None = None
        self._retired_workers: list[OpenStudyThread] = []
        self.explainer: ExplainThread | None = None
        self._retired_explainers: list[ExplainThread] = []
        self._explain_timer = QTimer(self)
        self._explain_timer.setSingleShot(True)
        self._explain_timer.setInterval(EXPLAIN_DELAY_MS)
        self._explain_timer.timeout.connect(self._request_explanations)

        self.signal_view = SignalView()
        self.navigator = HypnogramNavigator()
        self.ai_panel = AiPanel()
        self.signal_view.epoch_clicked.connect(self._go_to)
        self.navigator.epoch_clicked.connect(self._go_to)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(0)
        left_layout.addWidget(self.signal_view, 1)
        left_layout.addWidget(self.navigator)
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(left, 1)
        layout.addWidget(self.ai_panel)
        self.setCentralWidget(central)

        self.message = QLabel()
        self.saved = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_loading)
        status = self.statusBar()
        status.addWidget(self.message, 1)
        status.addPermanentWidget(self.saved)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        self._show_progress(False)

        self._build_menus()
        self.setAcceptDrops(True)
        self.resize(1920, 1080)
        self._update_title()
        self._update_actions()

    # ------------------------------------------------------------ menus and keys

    def _action(
        self,
        menu,
        text: str,
        slot: Callable[[], object],
        shortcuts=(),
        tip: str = "",
        enabled_with_study: bool = True,
    ) -> QAction:
        action = QAction(text, self)
        sequences: list[QKeySequence] = []
        for shortcut in shortcuts:
            if isinstance(shortcut, QKeySequence.StandardKey):
                found = QKeySequence.keyBindings(shortcut)
            else:
                found = [shortcut if isinstance(shortcut, QKeySequence) else QKeySequence(shortcut)]
            # A platform's standard binding may already hold one we add: the same key twice
            # makes Qt call the shortcut ambiguous and do nothing.
            sequences += [s for s in found if s not in sequences]
        action.setShortcuts(sequences)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setStatusTip(tip)
        action.triggered.connect(self._guarded(slot))
        menu.addAction(action)
        self.addAction(action)
        if enabled_with_study:
            self._study_actions.append(action)
        return action

    def _build_menus(self) -> None:
        self._study_actions: list[QAction] = []
        self._unavailable_methods: list[QAction] = []
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(
            file_menu, "&Open…", self.choose_file, [QKeySequence.StandardKey.Open],
            "Open an EDF/EDF+/BDF recording", enabled_with_study=False,
        )  # fmt: skip
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._rebuild_recent()
        file_menu.addSeparator()
        self.export_action = self._action(
            file_menu, "&Export reviewed…", self.export, ["Ctrl+E"],
            "Write the report PDF, CSV, EDF+ annotations and NSRR XML of the reviewed night",
        )  # fmt: skip
        self._action(
            file_menu, "Reviewer &name…", self.ask_reviewer, [],
            "Who is reviewing: written into the audit log with every edit",
            enabled_with_study=False,
        )  # fmt: skip
        file_menu.addSeparator()
        self._action(
            file_menu,
            "&Quit",
            self.close,
            [QKeySequence.StandardKey.Quit],
            enabled_with_study=False,
        )

        edit = bar.addMenu("&Edit")
        self.undo_action = self._action(edit, "&Undo", self._undo, [QKeySequence.StandardKey.Undo])
        self.redo_action = self._action(
            edit, "&Redo", self._redo, [QKeySequence.StandardKey.Redo, "Ctrl+Y"]
        )

        score = bar.addMenu("&Score")
        for name, keys in SCORING_KEYS.items():
            code = STAGE_CODE[name]
            self._action(
                score, f"Score {name} and advance", functools.partial(self.score, code),
                _key_sequences(keys),
            )  # fmt: skip
        self._action(
            score, "&Accept the AI's stage and advance", self.accept_ai,
            ["Return", "Enter", "A"],
        )  # fmt: skip
        score.addSeparator()
        self._action(
            score, "&Next uncertain epoch", self.next_uncertain, ["N"],
            "The next epoch of the review queue that is not reviewed yet",
        )  # fmt: skip
        self._action(score, "&Previous uncertain epoch", self.previous_uncertain, ["P"])
        score.addSeparator()
        self._action(score, "&Sign off…", self.sign_off, ["Ctrl+Shift+S"])
        self._action(score, "Audit &log…", self.show_audit_log, [])
        self.rescore_action = self._action(
            score, "Score with the &AI again", self.rescore, [],
            "Run the AI on this night (after a cancelled or failed scoring)",
        )  # fmt: skip

        navigate = bar.addMenu("&Navigate")
        self._action(navigate, "Next epoch", lambda: self.session.step(1), ["Right"])
        self._action(navigate, "Previous epoch", lambda: self.session.step(-1), ["Left"])
        self._action(navigate, "Next page", lambda: self.session.step_page(1), ["PgDown"])
        self._action(navigate, "Previous page", lambda: self.session.step_page(-1), ["PgUp"])
        self._action(navigate, "First epoch", lambda: self.session.first(), ["Home"])
        self._action(navigate, "Last epoch", lambda: self.session.last(), ["End"])
        self._action(navigate, "&Jump to epoch…", self.jump, ["G", "Ctrl+G"])

        view = bar.addMenu("&View")
        page_menu = view.addMenu("Page &width")
        self.page_actions = QActionGroup(self)
        for index, seconds in enumerate(PAGE_SECONDS, start=1):
            action = self._action(
                page_menu, f"{seconds} s", functools.partial(self.set_page, seconds),
                [f"Ctrl+{index}"],
            )  # fmt: skip
            action.setCheckable(True)
            action.setChecked(seconds == self.preferences.display.page_s)
            self.page_actions.addAction(action)
        self._action(view, "More sensitive (all channels)", lambda: self.step_gains(-1), ["+", "="])
        self._action(view, "Less sensitive (all channels)", lambda: self.step_gains(1), ["-"])
        self._action(view, "&Display settings…", self.edit_display, ["Ctrl+D"])
        self._action(view, "&Channel map…", self.edit_channel_map, ["Ctrl+M"])
        view.addSeparator()
        self.heatmap_action = self._action(
            view, "Relevance &heatmap", self.toggle_heatmap, ["H"],
            "Where the model looked, laid under the signals (attention rollout: no torch needed)",
        )  # fmt: skip
        self.heatmap_action.setCheckable(True)
        self.detail_action = self._action(
            view, "&Detail map of this epoch", self.toggle_detail, ["D"],
            f"Explain the current epoch by {METHOD_NAMES[DETAIL_METHOD]} (computed in the "
            "background), or back to the attention rollout",
        )  # fmt: skip
        method_menu = view.addMenu("Relevance &method")
        self.method_actions = QActionGroup(self)
        available = available_methods()
        for method in METHODS:
            action = self._action(
                method_menu, METHOD_NAMES[method].capitalize(),
                functools.partial(self.set_relevance_method, method),
            )  # fmt: skip
            action.setCheckable(True)
            action.setChecked(method == ROLLOUT)
            action.setData(method)
            if method not in available:
                action.setText(f"{action.text()} — needs torch and captum")
                self._unavailable_methods.append(action)
            self.method_actions.addAction(action)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard", self.show_keys, ["F1"], enabled_with_study=False)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.preferences.recent_files:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(self._guarded(functools.partial(self.open_path, Path(path))))
        self.recent_menu.setEnabled(bool(self.preferences.recent_files))

    def _update_actions(self) -> None:
        has_study = self.session is not None
        for action in self._study_actions:
            action.setEnabled(has_study)
        if has_study:
            self.undo_action.setEnabled(self.session.review.can_undo)
            self.redo_action.setEnabled(self.session.review.can_redo)
            self.rescore_action.setEnabled(self.session.ai is None and self.worker is None)
        explained = has_study and self.session.explanation is not None
        for action in (self.heatmap_action, self.detail_action, *self.method_actions.actions()):
            action.setEnabled(explained and action not in self._unavailable_methods)
        self.heatmap_action.setChecked(has_study and self.session.heatmap_visible)
        if has_study:
            for action in self.method_actions.actions():
                action.setChecked(action.data() == self.session.relevance_method)

    def _guarded(self, slot: Callable[[], object]) -> Callable[..., None]:
        @functools.wraps(slot)
        def run(*_args) -> None:
            try:
                slot()
            except Exception as exc:  # noqa: BLE001 — every failure becomes a dialog
                show_error(self, exc)
            self._update_actions()

        return run

    # ------------------------------------------------------------ opening

    def choose_file(self) -> None:
        start = (
            str(Path(self.preferences.recent_files[0]).parent)
            if self.preferences.recent_files
            else ""
        )
        path, _ = QFileDialog.getOpenFileName(self, "Open a recording", start, RECORDING_FILTER)
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path, channel_map: dict | None = None) -> None:
        """Open ``path`` in the worker; the first page shows as soon as the signals are in."""
        self._close_session()
        request = OpenRequest(
            Path(path), self.weights, self.backend, self.scored_folders, channel_map
        )
        self._start_worker(OpenStudyThread(request, self))
        self.message.setText(f"Opening {Path(path).name}…")

    def rescore(self) -> None:
        if self.session is None or self.session.ai is not None:
            return
        request = OpenRequest(self.session.study.path, self.weights, self.backend)
        opened = OpenedStudy(
            self.session.study, self.session.identity, self.session.sidecar,
            self.session.model_config,
        )  # fmt: skip
        self._start_worker(OpenStudyThread(request, self, opened_study=opened))

    def _start_worker(self, worker: OpenStudyThread) -> None:
        self.worker = worker
        worker.progress.connect(self._on_progress)
        worker.opened.connect(self._on_opened)
        worker.scored.connect(self._on_scored)
        worker.failed.connect(functools.partial(self._on_failed, worker.request))
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(functools.partial(self._on_worker_finished, worker))
        self._show_progress(True)
        worker.start()
        self._update_actions()

    def cancel_loading(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.message.setText("Cancelling…")

    def _on_progress(self, step: str, done: int, total: int) -> None:
        self.progress.setFormat(f"{STEP_LABELS.get(step, step)} %p%")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _on_opened(self, opened: OpenedStudy) -> None:
        session = StudySession(opened, self.reviewer, self.preferences.display)
        self.session = session
        for view in (self.signal_view, self.navigator, self.ai_panel):
            view.set_session(session)
        session.epoch_changed.connect(lambda _: self._update_title())
        session.epoch_changed.connect(lambda _: self._epoch_moved())
        session.explanation_changed.connect(self._request_explanations)
        session.stages_changed.connect(self._on_edit)
        self.preferences.add_recent(session.study.path)
        self._rebuild_recent()
        self._save_preferences()
        where = (
            "next to the recording"
            if session.sidecar.where == NEXT_TO_RECORDING
            else f"in {session.sidecar.path.parent}"
        )
        self.saved.setText(f"Review saved {where}")
        self.saved.setToolTip(str(session.sidecar.path))
        edits = len(session.review.audit)
        restored = f", {edits} earlier edits restored" if edits else ""
        ai = f" · AI: {session.ai.info.get('source', '')}" if session.ai is not None else ""
        self.message.setText(
            f"Opened {session.study.path.name}: {session.n_epochs} epochs{restored}{ai}"
        )
        self._update_title()
        self._update_actions()
        self.signal_view.repaint()  # the first page, before the AI scoring takes the CPU
        if self.worker is not None:
            self.worker.first_page_shown.set()
        self._start_explainer()
        if opened.notes:
            show_error(self, "\n".join(opened.notes), title="Opened with notes")

    def _on_scored(self, scored) -> None:
        if self.session is None:
            return
        ai, explanation = scored
        try:
            self.session.set_ai(ai, explanation)
        except Exception as exc:  # noqa: BLE001
            show_error(self, exc)
        self.message.setText(f"AI scoring done: {ai.model_label}")
        self._start_explainer()
        self._update_actions()

    # ------------------------------------------------------------ explanations

    def _start_explainer(self) -> None:
        """The thread that computes neighbours and detail maps of the night shown."""
        self._stop_explainer()
        session = self.session
        if session is None or session.explanation is None:
            return
        # No Qt parent: the window never deletes a thread that is still computing; it keeps
        # it until it has finished (closeEvent waits for it).
        explainer = ExplainThread(
            session.study, session.explanation.night, self.weights, self.backend
        )
        explainer.done.connect(functools.partial(self._on_explained, session))
        explainer.failed.connect(functools.partial(self._on_explain_failed, session))
        self.explainer = explainer
        explainer.start()
        self._request_explanations()

    def _stop_explainer(self) -> None:
        explainer, self.explainer = self.explainer, None
        if explainer is not None:
            # Left connected: what it still delivers names the session it was computed for,
            # and the slots drop it (disconnecting while it emits would race it).
            explainer.stop()
            running = [thread for thread in self._retired_explainers if thread.isRunning()]
            self._retired_explainers = [*running, explainer]

    def _epoch_moved(self) -> None:
        # Explain the epoch the technician stops on, not each one a held key runs past: the
        # neighbours of one epoch cost the CPU a page turn needs (0.2-0.4 s).
        if self.explainer is not None:
            self.explainer.request([])
        self._explain_timer.start()

    def _request_explanations(self) -> None:
        if self.explainer is not None and self.session is not None:
            self.explainer.request(self.session.explain_jobs())

    def _on_explained(self, session: StudySession, job, result) -> None:
        if session is self.session:
            session.take_explained(job, result)

    def _on_explain_failed(self, session: StudySession, job, message: str) -> None:
        if session is self.session:
            session.take_explained(job, failure=message)
            self.message.setText(f"Epoch {job.epoch + 1}: {message}")

    def toggle_heatmap(self) -> None:
        if self.session.explanation is None:
            self.message.setText("No explanations with this scoring: no heatmap")
            return
        shown = self.session.toggle_heatmap()
        self.message.setText("Heatmap on" if shown else "Heatmap off")

    def toggle_detail(self) -> None:
        session = self.session
        method = DETAIL_METHOD if session.relevance_method == ROLLOUT else ROLLOUT
        if method not in available_methods():
            method = "gradient" if session.relevance_method == ROLLOUT else ROLLOUT
        self.set_relevance_method(method)

    def set_relevance_method(self, method: str) -> None:
        if self.session.explanation is None:
            return
        self.session.set_relevance_method(method)
        self.message.setText(f"Relevance of the current epoch by {METHOD_NAMES[method]}")

    def _on_failed(self, request: OpenRequest, error, stage: str) -> None:
        self.message.setText("Opening failed" if stage == "open" else "AI scoring failed")
        if stage == "open" and CHANNEL_MAP in getattr(error, "settings", ()):
            self._offer_channel_map(request, str(error))
            return
        message = str(error)
        if stage == "score" and self.session is not None:
            message += "\n\nThe study stays open: you can score it without the AI."
        show_error(self, message)

    def _offer_channel_map(self, request: OpenRequest, message: str) -> None:
        """A recording whose channels were not recognised: map them by hand, then open it."""
        box = QMessageBox(QMessageBox.Icon.Warning, "SleepViT", message, parent=self)
        box.setObjectName("error-dialog")
        choose = box.addButton("Set the channel map…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Close)

        def answered() -> None:
            if box.clickedButton() is not choose:
                return
            try:
                dialog = ChannelMapDialog.for_recording(request.path, request.channel_map, self)
            except Exception as exc:  # noqa: BLE001 — e.g. the header itself is broken
                show_error(self, exc)
                return
            dialog.accepted.connect(
                self._guarded(lambda: self.open_path(request.path, dialog.channel_map()))
            )
            dialog.open()

        box.finished.connect(answered)
        box.open()

    def _on_cancelled(self, stage: str) -> None:
        self.message.setText(
            "Opening cancelled" if stage == "open"
            else "AI scoring cancelled — Score ▸ Score with the AI again to run it"
        )  # fmt: skip

    def _on_worker_finished(self, worker: OpenStudyThread) -> None:
        if worker is self.worker:
            self.worker = None
            self._show_progress(False)
        if worker in self._retired_workers:
            self._retired_workers.remove(worker)
        worker.deleteLater()
        self._update_actions()

    def _show_progress(self, visible: bool) -> None:
        self.progress.setVisible(visible)
        self.cancel_button.setVisible(visible)
        if visible:
            self.progress.setRange(0, 0)

    def _close_session(self) -> None:
        if self.worker is not None:
            # It may still hold the study being opened; let it finish on its own, unheard.
            worker, self.worker = self.worker, None
            worker.cancel()
            worker.first_page_shown.set()
            for signal in (
                worker.opened,
                worker.scored,
                worker.failed,
                worker.cancelled,
                worker.progress,
            ):
                signal.disconnect()
            self._retired_workers.append(worker)
            worker.opened.connect(lambda opened: opened.sidecar.close())
            self._show_progress(False)
        self._stop_explainer()
        if self.session is not None:
            self.session.close()
        self.session = None
        for view in (self.signal_view, self.navigator, self.ai_panel):
            view.set_session(None)
        self.saved.setText("")
        self._update_title()

    # ------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if _dropped_recording(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        path = _dropped_recording(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self._guarded(functools.partial(self.open_path, path))()

    # ------------------------------------------------------------ scoring

    def score(self, stage: int) -> None:
        self.session.score_current(stage)

    def accept_ai(self) -> None:
        if not self.session.accept_ai():
            self.message.setText("No AI stage for this epoch yet")

    def _undo(self) -> None:
        if not self.session.undo():
            self.message.setText("Nothing to undo")

    def _redo(self) -> None:
        if not self.session.redo():
            self.message.setText("Nothing to redo")

    def _on_edit(self, epoch: int) -> None:
        # Emitted only after the sidecar committed the edit: this is the acknowledgement.
        stage = self.session.review.stage(epoch)
        self.message.setText(
            f"Saved: epoch {epoch + 1} → {'not reviewed' if stage is None else stage_name(stage)}"
        )
        self._update_actions()

    def next_uncertain(self) -> None:
        session = self.session
        if session.queue is None:
            self.message.setText("The review queue appears when the AI scoring is done")
        elif not session.next_uncertain():
            self.message.setText(f"All {len(session.queue)} uncertain epochs are reviewed")

    def previous_uncertain(self) -> None:
        if self.session.queue is not None and not self.session.previous_uncertain():
            self.message.setText("This is the first uncertain epoch")

    def _go_to(self, epoch: int) -> None:
        if self.session is not None:
            self.session.go_to(epoch)

    def jump(self) -> None:
        session = self.session
        number, ok = QInputDialog.getInt(
            self, "Jump to epoch", f"Epoch (1–{session.n_epochs}):", session.current + 1, 1,
            session.n_epochs,
        )  # fmt: skip
        if ok:
            session.go_to(number - 1)

    def sign_off(self) -> None:
        session = self.session
        left = session.queue.remaining(session.review.reviewed) if session.queue is not None else 0
        warning = f"\n\n{left} uncertain epochs are not reviewed yet." if left else ""
        name, ok = QInputDialog.getText(
            self, "Sign off",
            f"I have reviewed this night ({session.n_epochs} epochs).{warning}\n\nReviewer:",
            text=self.reviewer,
        )  # fmt: skip
        if ok and name.strip():
            signed = session.review.sign_off(name)
            self.message.setText(f"Signed off by {signed.reviewer} at {signed.time:%H:%M}")

    def show_audit_log(self) -> None:
        AuditLogDialog(self.session.review, self).open()

    def ask_reviewer(self) -> None:
        name, ok = QInputDialog.getText(self, "Reviewer", "Your name:", text=self.reviewer)
        if ok and name.strip():
            self.reviewer = " ".join(name.split())
            self.preferences.reviewer = self.reviewer
            if self.session is not None:
                self.session.review.reviewer = self.reviewer
            self._save_preferences()

    # ------------------------------------------------------------ display

    def set_page(self, seconds: int) -> None:
        self._set_display(self.session.settings.with_page(seconds))

    def step_gains(self, steps: int) -> None:
        settings = self.session.settings
        for row in self.signal_view.page_renderer().rows:
            settings = settings.with_gain(row.slot, next_gain(row.gain, steps))
        self._set_display(settings)

    def edit_display(self) -> None:
        session = self.session
        dialog = DisplaySettingsDialog(
            session.settings, self.signal_view.page_renderer().rows, session.model_config, self
        )
        if dialog.exec():
            self._set_display(dialog.settings())

    def _set_display(self, settings) -> None:
        self.session.set_settings(settings)
        self.preferences.display = settings.for_other_studies(self.session.model_config)
        for action in self.page_actions.actions():
            action.setChecked(action.text() == f"{settings.page_s} s")
        self._save_preferences()

    def edit_channel_map(self) -> None:
        session = self.session
        current = session.sidecar.setting(CHANNEL_MAP) or {}
        dialog = ChannelMapDialog.for_study(session.study, current, self)
        if dialog.exec() and dialog.channel_map() != current:
            self.open_path(session.study.path, channel_map=dialog.channel_map())

    # ------------------------------------------------------------ export

    def export(self) -> None:
        from sleepvit.gui.session.export import export_review

        session = self.session
        if session.review.sign_off_record is None:
            answer = QMessageBox.question(
                self, "Export",
                "This night is not signed off since its last edit; the report will say so.\n\n"
                "Export anyway?",
            )  # fmt: skip
            if answer != QMessageBox.StandardButton.Yes:
                return
        start = self.preferences.export_folder or str(session.study.path.parent)
        folder = QFileDialog.getExistingDirectory(self, "Export the reviewed night to", start)
        if not folder:
            return
        written = export_review(session, Path(folder))
        self.preferences.export_folder = folder
        self._save_preferences()
        self.message.setText(f"Exported {len(written)} files to {folder}")

    # ------------------------------------------------------------ misc

    def show_keys(self) -> None:
        from sleepvit.gui.qt.ai_panel import KEYS

        text = "\n".join(f"{keys:<24} {meaning}" for keys, meaning in KEYS)
        QMessageBox.information(self, "Keyboard", text)

    def _update_title(self) -> None:
        if self.session is None:
            self.setWindowTitle("SleepViT")
            return
        session = self.session
        self.setWindowTitle(
            f"SleepViT — {session.study.path.name} — epoch {session.current + 1}/{session.n_epochs}"
        )

    def _save_preferences(self) -> None:
        if self.save_preferences:
            self.preferences.save()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._close_session()
        for worker in [*self._retired_workers, *self._retired_explainers]:
            worker.wait()
        self._retired_explainers.clear()
        self._save_preferences()
        super().closeEvent(event)


def _dropped_recording(mime) -> Path | None:
    for url in mime.urls() if mime.hasUrls() else []:
        path = Path(url.toLocalFile())
        if path.suffix.lower() in RECORDING_SUFFIXES:
            return path
    return None
