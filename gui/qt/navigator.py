"""The hypnogram navigator under the signals: the whole night at a glance, click to go there.

Rows: the AI's hypnogram (W on top, REM, N1, N2, N3, in the report's colours; grey where
it is not scored), the technician's stages (grey where not yet reviewed, a dark tick where
they differ from the AI's), the scoring on file if there is one, the review queue (a red mark
per epoch still to review, grey once reviewed), the signals (amber where the AI read the
epoch without one of them, grey where it could read no EEG) and the AI's confidence (red
below the review threshold). Interruptions of the recording are drawn as gaps through every
row. A marker shows the current epoch and the page around it. The rows are drawn once per
change of the night and kept; moving the marker repaints only the marker.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from sleepvit.gui.qt import style
from sleepvit.gui.qt.signal_view import LABEL_WIDTH, RIGHT_MARGIN
from sleepvit.gui.session.review import NOT_REVIEWED
from sleepvit.gui.session.session import StudySession
from sleepvit.hypnogram import STAGE_CODE, UNS, stage_name
from sleepvit.report.review import REVIEW_THRESHOLD

LEVELS = {STAGE_CODE[name]: level for level, name in enumerate(("W", "REM", "N1", "N2", "N3"))}
"""Clinical hypnogram order, top to bottom."""
HYPNOGRAM_HEIGHT = 62
STRIP_HEIGHT = 15
MARK_HEIGHT = 14
CONFIDENCE_HEIGHT = 24
AXIS_HEIGHT = 18
GAP = 5


class HypnogramNavigator(QWidget):
    epoch_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.session: StudySession | None = None
        self._background: QPixmap | None = None
        self.rows: dict[str, int] = {}
        """Top of each row by its label, as last drawn."""
        self.setMouseTracking(False)
        self.setSizePolicy(self.sizePolicy().horizontalPolicy(), self.sizePolicy().Policy.Fixed)
        self.setFixedHeight(self._height(with_reference=True))

    def set_session(self, session: StudySession | None) -> None:
        self.session = session
        self._background = None
        if session is not None:
            session.epoch_changed.connect(lambda _: self.update())
            session.stages_changed.connect(lambda _: self.invalidate())
            session.ai_changed.connect(self.invalidate)
            session.settings_changed.connect(self.update)
        self.setFixedHeight(self._height(session is not None and session.reference is not None))
        self.update()

    def invalidate(self) -> None:
        self._background = None
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(1500, self.height())

    @staticmethod
    def _height(with_reference: bool) -> int:
        strips = 2 if with_reference else 1
        return (
            GAP + HYPNOGRAM_HEIGHT + GAP + strips * (STRIP_HEIGHT + GAP)
            + 2 * (MARK_HEIGHT + GAP) + CONFIDENCE_HEIGHT + AXIS_HEIGHT + GAP
        )  # fmt: skip

    def plot_rect(self) -> QRect:
        return QRect(
            LABEL_WIDTH, 0, max(self.width() - LABEL_WIDTH - RIGHT_MARGIN, 1), self.height()
        )

    def x_of(self, epoch: float) -> float:
        plot = self.plot_rect()
        return plot.left() + epoch / max(self.session.n_epochs, 1) * plot.width()

    def epoch_at(self, x: float) -> int:
        plot = self.plot_rect()
        fraction = (x - plot.left()) / plot.width()
        return int(np.clip(fraction * self.session.n_epochs, 0, self.session.n_epochs - 1))

    # ------------------------------------------------------------ painting

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._background = None
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        if self.session is None:
            painter.fillRect(self.rect(), style.PANEL)
            return
        if (
            self._background is None
            or self._background.size() != self.size() * self.devicePixelRatioF()
        ):
            self._background = self._draw_background()
        painter.drawPixmap(0, 0, self._background)
        session = self.session
        page_left = self.x_of(session.page_start)
        page_right = self.x_of(min(session.page_start + session.page_epochs, session.n_epochs))
        shade = QColor(style.CURRENT)
        shade.setAlpha(150)
        painter.fillRect(QRectF(page_left, 0, max(page_right - page_left, 2), self.height()), shade)
        x = self.x_of(session.current + 0.5)
        painter.setPen(QPen(QColor("#C62828"), 2))
        painter.drawLine(QPointF(x, GAP), QPointF(x, self.height() - AXIS_HEIGHT))
        painter.end()

    def _draw_background(self) -> QPixmap:
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(style.PANEL)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        session = self.session
        y = GAP
        self._label(painter, y, HYPNOGRAM_HEIGHT, "AI")
        self._level_names(painter, y, HYPNOGRAM_HEIGHT)
        if session.ai is not None:
            self._draw_hypnogram(painter, session.ai.stages, y, HYPNOGRAM_HEIGHT)
        else:
            self._placeholder(painter, y, HYPNOGRAM_HEIGHT, "AI scoring in progress…")
        y += HYPNOGRAM_HEIGHT + GAP
        reviewed = int(session.review.reviewed.sum())
        self._label(painter, y, STRIP_HEIGHT, "Technician", sub=f"{reviewed}/{session.n_epochs}")
        self._draw_strip(painter, session.review.stages, y, STRIP_HEIGHT)
        changed = session.changed_epochs() if session.ai is not None else np.zeros(0, int)
        painter.setPen(QPen(style.INK, 1))
        for epoch in changed:
            x = self.x_of(epoch + 0.5)
            painter.drawLine(QPointF(x, y - 3), QPointF(x, y - 1))
        y += STRIP_HEIGHT + GAP
        if session.reference is not None:
            ai_kappa, _ = session.reference_kappa()
            sub = f"κ {ai_kappa:.2f}" if ai_kappa is not None else ""
            self._label(painter, y, STRIP_HEIGHT, "On file", sub=sub)
            self._draw_strip(painter, session.reference.stages, y, STRIP_HEIGHT)
            y += STRIP_HEIGHT + GAP
        self._draw_queue(painter, y)
        y += MARK_HEIGHT + GAP
        self._draw_signals(painter, y)
        y += MARK_HEIGHT + GAP
        self._label(painter, y, CONFIDENCE_HEIGHT, "Confidence")
        if session.ai is not None:
            self._draw_confidence(painter, session.ai.confidence, session.ai.stages, y)
        y += CONFIDENCE_HEIGHT
        self._draw_gaps(painter, GAP, y)
        self._draw_axis(painter, y)
        painter.end()
        return pixmap

    def _draw_queue(self, painter: QPainter, top: int) -> None:
        queue = self.session.queue
        if queue is None:
            self._label(painter, top, MARK_HEIGHT, "Queue")
            return
        reviewed = self.session.review.reviewed
        left = queue.remaining(reviewed)
        self._label(
            painter, top, MARK_HEIGHT, "Queue", sub=f"{left} left · {queue.queue.coverage:.0%}"
        )
        plot = self.plot_rect()
        painter.fillRect(QRectF(plot.left(), top, plot.width(), MARK_HEIGHT), style.BACKGROUND)
        width = max(plot.width() / max(self.session.n_epochs, 1), 1.0)
        # Reviewed first, so that a mark still to review is never hidden under a grey one.
        for done in (True, False):
            colour = style.RULE if done else style.LOW_CONFIDENCE
            for epoch in queue.epochs[reviewed[queue.epochs] == done]:
                painter.fillRect(QRectF(self.x_of(epoch), top, width, MARK_HEIGHT), colour)

    def _draw_signals(self, painter: QPainter, top: int) -> None:
        """Amber: scored without a signal; grey: not scored (no readable EEG)."""
        session = self.session
        quality = session.quality()
        plot = self.plot_rect()
        painter.fillRect(QRectF(plot.left(), top, plot.width(), MARK_HEIGHT), style.BACKGROUND)
        if quality is None:
            self._label(painter, top, MARK_HEIGHT, "Signals")
            return
        lost = (~quality.usable & quality.present[None, :]).any(axis=1) & ~quality.no_data
        state = np.where(~quality.scorable & ~quality.no_data, 2, np.where(lost, 1, 0))
        problems = int(np.count_nonzero(state))
        self._label(
            painter, top, MARK_HEIGHT, "Signals",
            sub=f"{problems} epochs" if problems else "all read",
        )  # fmt: skip
        colours = {1: QColor(style.QUALITY_MARK), 2: QColor(176, 176, 176)}
        for first, stop, code in self._runs(state):
            if code:
                left, right = self.x_of(first), self.x_of(stop)
                painter.fillRect(
                    QRectF(left, top, max(right - left, 1), MARK_HEIGHT), colours[code]
                )

    def _draw_gaps(self, painter: QPainter, top: int, bottom: int) -> None:
        """Interruptions of the recording: a gap through every row, nothing drawn in it."""
        session = self.session
        for start, end in session.gap_spans(0.0, session.n_epochs * session.epoch_s):
            left = self.x_of(start / session.epoch_s)
            right = max(self.x_of(end / session.epoch_s), left + 2)
            painter.fillRect(QRectF(left, top, right - left, bottom - top), style.PANEL)
            painter.setPen(QPen(style.MUTED, 1, Qt.PenStyle.DotLine))
            painter.drawLine(QPointF(left, top), QPointF(left, bottom))
            painter.drawLine(QPointF(right, top), QPointF(right, bottom))

    def _label(self, painter: QPainter, y: int, height: int, text: str, sub: str = "") -> None:
        self.rows[text] = y
        painter.setPen(style.INK)
        painter.setFont(style.font(8.5, bold=True))
        painter.drawText(QRect(8, y, LABEL_WIDTH - 12, height), Qt.AlignmentFlag.AlignVCenter, text)
        if sub:
            painter.setPen(style.MUTED)
            painter.setFont(style.font(7.5))
            painter.drawText(
                QRect(8, y, LABEL_WIDTH - 16, height),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                sub,
            )

    def _level_names(self, painter: QPainter, y: int, height: int) -> None:
        painter.setPen(style.MUTED)
        painter.setFont(style.font(7))
        level_height = height / len(LEVELS)
        for code, level in LEVELS.items():
            name = "R" if code == STAGE_CODE["REM"] else stage_name(code)
            painter.drawText(
                QRectF(8, y + level * level_height, LABEL_WIDTH - 16, level_height),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                name,
            )

    def _placeholder(self, painter: QPainter, y: int, height: int, text: str) -> None:
        plot = self.plot_rect()
        painter.setPen(style.MUTED)
        painter.setFont(style.font(9))
        painter.drawText(
            QRect(plot.left(), y, plot.width(), height), Qt.AlignmentFlag.AlignCenter, text
        )

    def _runs(self, codes: np.ndarray):
        """``(first, stop, code)`` of each run of equal codes."""
        if not codes.size:
            return
        edges = np.flatnonzero(np.diff(codes)) + 1
        starts = np.concatenate([[0], edges])
        stops = np.concatenate([edges, [codes.size]])
        for first, stop in zip(starts, stops, strict=True):
            yield int(first), int(stop), int(codes[first])

    def _draw_hypnogram(self, painter: QPainter, stages: np.ndarray, top: int, height: int):
        plot = self.plot_rect()
        level_height = height / len(LEVELS)
        painter.fillRect(QRectF(plot.left(), top, plot.width(), height), style.BACKGROUND)
        painter.setPen(QPen(style.GRID_SECOND, 1))
        for level in range(len(LEVELS)):
            y = top + (level + 0.5) * level_height
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        previous_y = None
        for first, stop, code in self._runs(stages):
            left, right = self.x_of(first), self.x_of(stop)
            if code == UNS:
                painter.fillRect(QRectF(left, top, right - left, height), QColor(176, 176, 176, 90))
                previous_y = None
                continue
            y = top + (LEVELS[code] + 0.5) * level_height
            if previous_y is not None:
                painter.setPen(QPen(QColor("#7A7A7A"), 1))
                painter.drawLine(QPointF(left, previous_y), QPointF(left, y))
            thickness = 5 if code == STAGE_CODE["REM"] else 3
            painter.fillRect(
                QRectF(left, y - thickness / 2, max(right - left, 1), thickness),
                style.stage_colour(code),
            )
            previous_y = y

    def _draw_strip(self, painter: QPainter, codes: np.ndarray, top: int, height: int) -> None:
        for first, stop, code in self._runs(codes):
            left, right = self.x_of(first), self.x_of(stop)
            colour = style.stage_colour(None if code == NOT_REVIEWED else code)
            painter.fillRect(QRectF(left, top, max(right - left, 1), height), colour)

    def _draw_confidence(self, painter: QPainter, confidence, stages, top: int) -> None:
        plot = self.plot_rect()
        painter.fillRect(
            QRectF(plot.left(), top, plot.width(), CONFIDENCE_HEIGHT), style.BACKGROUND
        )
        width = plot.width() / max(len(confidence), 1)
        for epoch, value in enumerate(confidence):
            if stages[epoch] == UNS:
                continue
            colour = style.LOW_CONFIDENCE if value < REVIEW_THRESHOLD else style.CONFIDENCE
            bar = value * CONFIDENCE_HEIGHT
            painter.fillRect(
                QRectF(self.x_of(epoch), top + CONFIDENCE_HEIGHT - bar, max(width, 1), bar), colour
            )
        y = top + CONFIDENCE_HEIGHT * (1 - REVIEW_THRESHOLD)
        painter.setPen(QPen(style.MUTED, 1, Qt.PenStyle.DotLine))
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))

    def _draw_axis(self, painter: QPainter, top: int) -> None:
        session = self.session
        start = session.study.start
        painter.setFont(style.font(7.5))
        painter.setPen(style.MUTED)
        total_s = session.n_epochs * session.epoch_s
        first_hour = (3600 - (start.minute * 60 + start.second)) % 3600
        step = 3600 if total_s > 3 * 3600 else 900 if total_s > 3600 else 300
        first = first_hour % step if step < 3600 else first_hour
        for second in np.arange(first, total_s, step):
            x = self.x_of(second / session.epoch_s)
            painter.drawLine(QPointF(x, top), QPointF(x, top + 4))
            painter.drawText(
                QPointF(x + 2, top + 14), f"{session.clock_time(0, float(second)):%H:%M}"
            )

    # ------------------------------------------------------------ mouse

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._jump(event.position().x())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._jump(event.position().x())

    def _jump(self, x: float) -> None:
        if self.session is not None and x >= self.plot_rect().left():
            self.epoch_clicked.emit(self.epoch_at(x))
