"""The AI panel beside the signals: what the model says about the current epoch and how sure it
is, what the technician and the scoring on file say, and how far the review has come.

Probabilities are the calibrated ones with the neighbouring epochs (SequenceTransformer);
when the night was scored here, a thin bar under each shows EpochViT alone — the epoch judged
on its own screen — so a technician sees when the context changed the model's mind. The
per-signal relevance bars and neighbour relevance of :mod:`sleepvit.explain` will go under
the probabilities (phase 2); there is no stand-in for them.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from sleepvit.gui.qt import style
from sleepvit.gui.session.session import StudySession
from sleepvit.hypnogram import STAGES
from sleepvit.report.review import REVIEW_THRESHOLD

PANEL_WIDTH = 300
PAD = 14
KEYS = (
    ("W / 0, 1, 2, 3, R / 5", "score and advance"),
    ("Enter / A", "accept the AI's stage"),
    ("N / P", "next / previous uncertain"),
    ("Ctrl+Z / Ctrl+Y", "undo / redo"),
    ("← → PgUp PgDn", "epoch / page"),
    ("Home / End / G", "first / last / jump"),
)


class AiPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.session: StudySession | None = None
        self.setFixedWidth(PANEL_WIDTH)

    def set_session(self, session: StudySession | None) -> None:
        self.session = session
        if session is not None:
            for emitter in (session.epoch_changed, session.stages_changed):
                emitter.connect(lambda _: self.update())
            session.ai_changed.connect(self.update)
            session.review.signed.connect(lambda _: self.update())
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(PANEL_WIDTH, 800)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), style.PANEL)
        painter.setPen(QPen(style.RULE, 1))
        painter.drawLine(0, 0, 0, self.height())
        if self.session is None:
            return
        y = self._draw_epoch(painter, PAD)
        y = self._draw_ai(painter, y + 14)
        y = self._draw_technician(painter, y + 14)
        y = self._draw_review(painter, y + 14)
        self._draw_keys(painter, max(y + 14, self.height() - 20 - 17 * len(KEYS)))
        painter.end()

    # ------------------------------------------------------------ sections

    def _heading(self, painter: QPainter, y: float, text: str) -> float:
        painter.setPen(style.MUTED)
        painter.setFont(style.font(8, bold=True))
        painter.drawText(QRectF(PAD, y, self.width() - 2 * PAD, 16), text.upper())
        painter.setPen(QPen(style.RULE, 1))
        painter.drawLine(PAD, int(y + 17), self.width() - PAD, int(y + 17))
        return y + 22

    def _text(self, painter: QPainter, y: float, text: str, size=9.5, bold=False, colour=None):
        painter.setPen(colour or style.INK)
        painter.setFont(style.font(size, bold))
        height = painter.fontMetrics().height()
        rect = QRectF(PAD, y, self.width() - 2 * PAD, height * 3)
        bounds = painter.boundingRect(rect, Qt.TextFlag.TextWordWrap, text)
        painter.drawText(rect, Qt.TextFlag.TextWordWrap, text)
        return y + bounds.height() + 2

    def _chip(self, painter: QPainter, x: float, y: float, code: int | None, size=15) -> float:
        painter.setFont(style.font(size, bold=True))
        text = style.stage_text(code)
        width = painter.fontMetrics().horizontalAdvance(text) + 18
        height = painter.fontMetrics().height() + 6
        painter.fillRect(QRectF(x, y, width, height), style.stage_colour(code))
        painter.setPen(QColor("white") if code is not None else style.MUTED)
        painter.drawText(QRectF(x, y, width, height), Qt.AlignmentFlag.AlignCenter, text)
        return height

    def _draw_epoch(self, painter: QPainter, y: float) -> float:
        session = self.session
        epoch = session.current
        start = session.clock_time(epoch)
        end = session.clock_time(epoch + 1)
        y = self._text(painter, y, f"Epoch {epoch + 1} of {session.n_epochs}", 13, True)
        return self._text(painter, y, f"{start:%H:%M:%S} – {end:%H:%M:%S}", 9.5, colour=style.MUTED)

    def _draw_ai(self, painter: QPainter, y: float) -> float:
        session = self.session
        y = self._heading(painter, y, "AI")
        if session.ai is None:
            return self._text(painter, y, "Scoring in progress…", colour=style.MUTED)
        epoch = session.current
        stage = session.ai_stage(epoch)
        if stage is None:
            return self._text(painter, y, "Not covered by the AI scoring", colour=style.MUTED)
        confidence = float(session.ai.confidence[epoch])
        chip = self._chip(painter, PAD, y, stage)
        painter.setPen(style.INK)
        painter.setFont(style.font(10))
        painter.drawText(
            QRectF(PAD + 80, y, self.width() - PAD - 80 - PAD, chip),
            Qt.AlignmentFlag.AlignVCenter,
            f"confidence {confidence:.2f}",
        )
        y += chip + 6
        if confidence < REVIEW_THRESHOLD:
            y = self._text(
                painter,
                y,
                f"Uncertain (below {REVIEW_THRESHOLD:g}): in the review queue",
                8.5,
                True,
                style.LOW_CONFIDENCE,
            )
        y = self._probability_bars(painter, y + 4)
        return self._text(painter, y + 2, session.ai.model_label, 8, colour=style.MUTED)

    def _probability_bars(self, painter: QPainter, y: float) -> float:
        session, epoch = self.session, self.session.current
        sequence = session.ai.probabilities[epoch]
        alone = session.ai.epoch_vit[epoch] if session.ai.epoch_vit is not None else None
        label_w, value_w = 38, 40
        bar_x = PAD + label_w
        bar_w = self.width() - 2 * PAD - label_w - value_w
        painter.setFont(style.font(9))
        for code, name in enumerate(STAGES):
            painter.setPen(style.INK)
            painter.drawText(QRectF(PAD, y, label_w, 14), Qt.AlignmentFlag.AlignVCenter, name)
            painter.fillRect(QRectF(bar_x, y + 1, bar_w, 10), style.BACKGROUND)
            painter.fillRect(
                QRectF(bar_x, y + 1, bar_w * float(sequence[code]), 10), style.stage_colour(code)
            )
            painter.drawText(
                QRectF(bar_x + bar_w, y, value_w, 14),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                f"{float(sequence[code]):.2f}",
            )
            if alone is not None:
                painter.fillRect(QRectF(bar_x, y + 12, bar_w * float(alone[code]), 3), style.MUTED)
            y += 19
        if alone is not None:
            y = self._text(
                painter,
                y,
                "bars: with neighbouring epochs · grey line: this epoch alone",
                7.5,
                colour=style.MUTED,
            )
        return y

    def _draw_technician(self, painter: QPainter, y: float) -> float:
        session, epoch = self.session, self.session.current
        y = self._heading(painter, y, "Technician")
        technician = session.review.stage(epoch)
        chip = self._chip(painter, PAD, y, technician, size=13)
        note = "not reviewed"
        if technician is not None:
            ai = session.ai_stage(epoch)
            note = "changed from the AI" if ai is not None and ai != technician else "reviewed"
        painter.setPen(style.INK if technician is not None else style.MUTED)
        painter.setFont(style.font(9.5))
        painter.drawText(
            QRectF(PAD + 80, y, self.width() - 80 - 2 * PAD, chip),
            Qt.AlignmentFlag.AlignVCenter,
            note,
        )
        y += chip + 8
        if session.reference is not None:
            y = self._heading(painter, y, "Scoring on file")
            code = int(session.reference.stages[epoch])
            chip = self._chip(painter, PAD, y, code, size=13)
            ai_kappa, reviewed_kappa = session.reference_kappa()
            painter.setPen(style.INK)
            painter.setFont(style.font(9))
            painter.drawText(
                QRectF(PAD + 80, y, self.width() - 80 - 2 * PAD, chip),
                Qt.AlignmentFlag.AlignVCenter,
                f"κ AI {_kappa(ai_kappa)} · reviewed {_kappa(reviewed_kappa)}",
            )
            y += chip + 4
            y = self._text(painter, y, session.reference.path.name, 8, colour=style.MUTED)
        return y

    def _draw_review(self, painter: QPainter, y: float) -> float:
        session = self.session
        y = self._heading(painter, y, "Review")
        reviewed = int(session.review.reviewed.sum())
        changed = len(session.changed_epochs()) if session.ai is not None else 0
        y = self._text(
            painter, y, f"{reviewed} of {session.n_epochs} epochs reviewed, {changed} changed", 9
        )
        if session.queue is not None:
            left = session.queue.remaining(session.review.reviewed)
            y = self._text(
                painter,
                y,
                f"Uncertain epochs: {left} of {len(session.queue)} left ({session.queue.ordering})",
                9,
            )
        signed = session.review.sign_off_record
        text = (
            f"Signed off by {signed.reviewer}, {signed.time:%Y-%m-%d %H:%M}"
            if signed is not None
            else "Not signed off" + (" since the last edit" if session.review.sign_offs else "")
        )
        return self._text(painter, y, text, 9, bold=signed is not None)

    def _draw_keys(self, painter: QPainter, y: float) -> None:
        y = self._heading(painter, y, "Keys")
        painter.setFont(style.font(8))
        for keys, meaning in KEYS:
            painter.setPen(style.INK)
            painter.drawText(QRectF(PAD, y, 130, 16), Qt.AlignmentFlag.AlignVCenter, keys)
            painter.setPen(style.MUTED)
            painter.drawText(
                QRectF(PAD + 128, y, self.width() - 128 - 2 * PAD, 16),
                Qt.AlignmentFlag.AlignVCenter,
                meaning,
            )
            y += 17


def _kappa(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
