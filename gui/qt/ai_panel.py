"""The AI panel beside the signals: what the model says about the current epoch, how sure it
is and why, what the technician and the scoring on file say, and how far the review has come.

A night unlike the training data (:attr:`~sleepvit.gui.session.session.StudySession.ood_warning`)
puts an amber box at the top, above everything else and on every epoch, in the words of the
terminal and the report: the stages and the confidence of such a night cannot be trusted.

Probabilities are the calibrated ones with the neighbouring epochs (SequenceTransformer);
when EpochViT's own are known, a thin bar under each shows EpochViT alone — the epoch judged
on its own screen — so a technician sees when the context changed the model's mind. Under
them, from :mod:`sleepvit.explain`: why the epoch is in the review queue, where the model
looked (relevance per signal, by the method of the heatmap), and which neighbouring epochs
moved the sequence model (computed on request; "computing…" until then). An epoch the model
did not score says why (the signal-quality check), and one scored without a signal says which.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from sleepvit.gui.qt import style
from sleepvit.gui.session.explanation import METHOD_NAMES, NEIGHBOURS, ExplainJob
from sleepvit.gui.session.session import StudySession
from sleepvit.hypnogram import STAGES

PANEL_WIDTH = 316
PAD = 14
KEYS = (
    ("W / 0, 1, 2, 3, R / 5", "score and advance"),
    ("Enter / A", "accept the AI's stage"),
    ("N / P", "next / previous in queue"),
    ("H / D", "heatmap / detail map"),
    ("Ctrl+Z / Ctrl+Y", "undo / redo"),
    ("← → PgUp PgDn", "epoch / page"),
    ("Home / End / G", "first / last / jump"),
)
NEIGHBOUR_HEIGHT = 44


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
            session.explanation_changed.connect(self.update)
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
        y = self._draw_ood_warning(painter, PAD)
        y = self._draw_epoch(painter, y)
        y = self._draw_ai(painter, y + 12)
        y = self._draw_relevance(painter, y + 12)
        y = self._draw_neighbours(painter, y + 12)
        y = self._draw_technician(painter, y + 12)
        y = self._draw_review(painter, y + 12)
        keys_height = 22 + 17 * len(KEYS)
        if y + 12 + keys_height <= self.height():  # F1 lists them too, on a small screen
            self._draw_keys(painter, max(y + 12, self.height() - 8 - keys_height))
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
        rect = QRectF(PAD, y, self.width() - 2 * PAD, height * 4)
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

    def _draw_ood_warning(self, painter: QPainter, y: float) -> float:
        verdict = self.session.ood_warning
        if verdict is None:
            return y
        headline, evidence, advice = verdict.lines()
        lines = (
            (headline, style.font(10, bold=True)),
            (evidence, style.font(8.5)),
            (advice, style.font(8.5)),
        )
        inset = 9
        text_x, text_w = PAD + inset, self.width() - 2 * (PAD + inset)
        heights = []
        for text, font in lines:
            painter.setFont(font)
            bounds = painter.boundingRect(
                QRectF(text_x, 0, text_w, 200), Qt.TextFlag.TextWordWrap, text
            )
            heights.append(bounds.height())
        box = QRectF(PAD, y, self.width() - 2 * PAD, sum(heights) + 2 * (len(lines) - 1) + 14)
        painter.fillRect(box, style.OOD_FILL)
        painter.setPen(QPen(style.OOD_EDGE, 2))
        painter.drawRect(box.adjusted(1, 1, -1, -1))
        painter.setPen(style.OOD_INK)
        top = y + 7
        for (text, font), height in zip(lines, heights, strict=True):
            painter.setFont(font)
            painter.drawText(QRectF(text_x, top, text_w, height), Qt.TextFlag.TextWordWrap, text)
            top += height + 2
        return box.bottom() + 12

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
        reason = session.quality_reason(epoch)
        if stage is None:
            y = self._text(painter, y, "Not scored (UNS)", 10, True, style.MUTED)
            why = reason or "not covered by the AI scoring"
            return self._text(painter, y, why[:1].upper() + why[1:], 9, colour=style.QUALITY)
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
        position = session.queue.position_of(epoch) if session.queue is not None else None
        if position is not None:
            why = " · ".join(session.queue.why(epoch))
            y = self._text(
                painter,
                y,
                f"In the review queue ({position + 1} of {len(session.queue)}): {why}",
                8.5,
                True,
                style.LOW_CONFIDENCE,
            )
        if reason:
            y = self._text(painter, y, reason[:1].upper() + reason[1:], 8.5, colour=style.QUALITY)
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

    def _draw_relevance(self, painter: QPainter, y: float) -> float:
        """Where the model looked: relevance per signal by the method of the heatmap."""
        session, epoch = self.session, self.session.current
        explanation = session.explanation
        if explanation is None:
            if session.ai is None:
                return y - 12
            y = self._heading(painter, y, "Where the model looked")
            return self._text(
                painter, y, "No explanations with this scoring (score it again to see them)",
                8.5, colour=style.MUTED,
            )  # fmt: skip
        method = session.shown_method(epoch)
        y = self._heading(painter, y, "Where the model looked")
        relevance = explanation.epoch(epoch, method)
        if relevance is None:
            return self._text(
                painter, y, "No map: the epoch was not scored", 8.5, colour=style.MUTED
            )
        heatmap = "shown on the signals" if session.heatmap_visible else "H shows it on the signals"
        y = self._text(painter, y, f"By {METHOD_NAMES[method]}, {heatmap}", 8, colour=style.MUTED)
        wanted = session.relevance_method
        if wanted != method:
            failure = explanation.failure(ExplainJob(wanted, epoch))
            note = f"{METHOD_NAMES[wanted]}: " + (failure or "computing…")
            y = self._text(painter, y, note, 8, colour=style.QUALITY if failure else style.MUTED)
        shares = relevance.per_signal()
        shown = [slot for slot in explanation.slots if slot in session.study.signals]
        label_w, value_w = 78, 40
        bar_x = PAD + label_w
        bar_w = self.width() - 2 * PAD - label_w - value_w
        # Bars on one scale (full = half the epoch's relevance, or the largest share if more),
        # so an even spread over eleven signals looks even, not eleven full bars.
        full = max(0.5, *(shares[slot] for slot in shown))
        painter.setFont(style.font(8.5))
        for slot in shown:
            label = session.study.signals[slot].label
            painter.setPen(style.INK)
            painter.drawText(
                QRectF(PAD, y, label_w - 4, 13),
                Qt.AlignmentFlag.AlignVCenter,
                painter.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, label_w - 6),
            )
            painter.fillRect(QRectF(bar_x, y + 2, bar_w, 9), style.BACKGROUND)
            painter.fillRect(QRectF(bar_x, y + 2, bar_w * shares[slot] / full, 9), style.RELEVANCE)
            painter.drawText(
                QRectF(bar_x + bar_w, y, value_w, 13),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                f"{shares[slot]:.0%}",
            )
            y += 15
        top_slot, _ = relevance.top_cell
        start, end = relevance.top_seconds
        where = (
            session.study.signals[top_slot].label if top_slot in session.study.signals else top_slot
        )
        return self._text(
            painter, y + 2, f"Strongest patch: {where}, {start:g}–{end:g} s", 8, colour=style.MUTED
        )

    def _draw_neighbours(self, painter: QPainter, y: float) -> float:
        """Which neighbouring epochs moved the sequence model (change of log-odds of the
        stage scored when each is hidden): up = supported it, down = argued against."""
        session, epoch = self.session, self.session.current
        explanation = session.explanation
        if explanation is None or not explanation.scored(epoch):
            return y - 12
        y = self._heading(painter, y, "Neighbours that moved the AI")
        neighbours = explanation.neighbours(epoch)
        if neighbours is None:
            failure = explanation.failure(ExplainJob(NEIGHBOURS, epoch))
            return self._text(
                painter,
                y,
                failure or "computing…",
                8,
                colour=style.QUALITY if failure else style.MUTED,
            )
        reach = int(max(np.abs(neighbours.offsets).max(initial=1), 1))
        values = neighbours.by_offset(reach, log_odds=True)
        peak = float(np.abs(values).max()) or 1.0
        left, width = PAD, self.width() - 2 * PAD
        step = width / len(values)
        middle = y + NEIGHBOUR_HEIGHT / 2
        painter.fillRect(QRectF(left, y, width, NEIGHBOUR_HEIGHT), style.BACKGROUND)
        for index, value in enumerate(values):
            x = left + index * step
            if index == reach:  # the epoch itself: a mark, not a bar
                painter.setPen(QPen(style.INK, 1, Qt.PenStyle.DotLine))
                centre = x + step / 2
                painter.drawLine(QPointF(centre, y), QPointF(centre, y + NEIGHBOUR_HEIGHT))
                continue
            height = (NEIGHBOUR_HEIGHT / 2 - 2) * float(value) / peak
            colour = style.SUPPORT if value >= 0 else style.AGAINST
            top, bar = (middle - height, height) if height >= 0 else (middle, -height)
            painter.fillRect(QRectF(x + 0.5, top, max(step - 1, 1), max(bar, 0.5)), colour)
        painter.setPen(QPen(style.RULE, 1))
        painter.drawLine(QPointF(left, middle), QPointF(left + width, middle))
        y += NEIGHBOUR_HEIGHT + 2
        painter.setFont(style.font(7.5))
        painter.setPen(style.MUTED)
        painter.drawText(QRectF(left, y, width, 12), Qt.AlignmentFlag.AlignLeft, f"−{reach}")
        painter.drawText(QRectF(left, y, width, 12), Qt.AlignmentFlag.AlignHCenter, "this epoch")
        painter.drawText(QRectF(left, y, width, 12), Qt.AlignmentFlag.AlignRight, f"+{reach}")
        y += 13
        best, change = neighbours.strongest(1, log_odds=True)[0]
        text = (
            f"Most support: epoch {best + 1} ({style.stage_text(session.ai_stage(best))}), "
            f"log-odds {change:+.2f}"
            if change > 0
            else "No neighbour supported this stage"
        )
        return self._text(painter, y, text, 8, colour=style.MUTED)

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
            queue = session.queue
            left = queue.remaining(session.review.reviewed)
            y = self._text(
                painter,
                y,
                f"Review queue: {left} of {len(queue)} left — {queue.queue.coverage:.0%} of the "
                f"night's scored epochs, {queue.ordering}",
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
