"""The technician screen: one page of every mapped signal, drawn by the project's renderer.

The traces are the renderer's pixels at this widget's device resolution
(:mod:`sleepvit.gui.session.screen`), painted 1:1 so they stay crisp; this view adds what a
technician reads around them — channel labels with their gain, scale bars, grid lines every
second and every 5 s, epoch numbers, clock times and a time axis.

The relevance heatmap (``H``; :meth:`StudySession.relevance_grid`) lays each epoch's map
``[model slots × 2-s columns]`` under its traces, each cell's colour as strong as its share of
the epoch's largest cell, so the traces stay on top and readable. Only the cells
that stand out are drawn, as small translucent rectangles.

Signal quality is drawn where it applies: a signal the model could not read in an epoch
(flat, clipped, lost…) is greyed with the problem named, and an interruption of the recording
(EDF+D gap) is drawn as a gap — no trace, only "no data".
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

from sleepvit.gui.qt import style
from sleepvit.gui.session.screen import Page, PageRenderer, RowRenderers, overlay_cells
from sleepvit.gui.session.session import StudySession

LABEL_WIDTH = 138
HEADER_HEIGHT = 30
AXIS_HEIGHT = 26
RIGHT_MARGIN = 12
MIN_LABEL_SPACING_PX = 96
"""Time-axis labels sit at least this far apart (clock times are ~60 px wide)."""

PREFETCH_DELAY_MS = 60
CACHED_PAGES = 4
"""Pages kept drawn: the current one, the prefetched next one, and a step back."""

RELEVANCE_ALPHA = 0.6
"""Opacity of the strongest cell of a map (the traces are drawn over it)."""


class SignalView(QWidget):
    """Draws ``session``'s current page; a click on an epoch of a wide page selects it."""

    epoch_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.session: StudySession | None = None
        self._rows: RowRenderers | None = None
        self._renderer: PageRenderer | None = None
        self._renderer_key: tuple | None = None
        self._page: Page | None = None
        self._traces: QImage | None = None
        self._traces_pixels: np.ndarray | None = None
        """The buffer ``_traces`` shows: it lives as long as the image is painted."""
        self._drawn: OrderedDict[int, tuple[Page, QImage, np.ndarray]] = OrderedDict()
        """Pages drawn or prefetched, by first epoch (with the pixels their image shows)."""
        self._prefetch = QTimer(self)
        self._prefetch.setSingleShot(True)
        self._prefetch.timeout.connect(self._prefetch_next_page)
        self.setMinimumSize(640, 360)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAcceptDrops(False)

    # ------------------------------------------------------------ model

    def set_session(self, session: StudySession | None) -> None:
        self.session = session
        self._rows = RowRenderers(session.study, session.model_config) if session else None
        self._renderer = self._renderer_key = self._page = self._traces = None
        self._drawn.clear()
        if session is not None:
            session.epoch_changed.connect(lambda _: self.update())
            session.stages_changed.connect(lambda _: self.update())
            session.ai_changed.connect(self.update)
            session.explanation_changed.connect(self.update)
            session.settings_changed.connect(self._settings_changed)
        self.update()

    def _settings_changed(self) -> None:
        self._renderer = self._renderer_key = self._page = None
        self._drawn.clear()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(1500, 820)

    def trace_rect(self) -> QRect:
        """Where the traces go, in logical pixels."""
        return QRect(
            LABEL_WIDTH,
            HEADER_HEIGHT,
            max(self.width() - LABEL_WIDTH - RIGHT_MARGIN, 1),
            max(self.height() - HEADER_HEIGHT - AXIS_HEIGHT, 1),
        )

    def page_renderer(self) -> PageRenderer:
        """The renderer for this widget's size at device resolution, rebuilt when it changes."""
        ratio = self.devicePixelRatioF()
        rect = self.trace_rect()
        key = (round(rect.width() * ratio), round(rect.height() * ratio), self.session.settings)
        if key != self._renderer_key:
            self._renderer = PageRenderer(self._rows, self.session.settings, key[0], key[1])
            self._renderer_key = key
            self._page = None
            self._drawn.clear()
        return self._renderer

    def current_page(self) -> Page:
        first = self.session.page_start
        if self._page is None or self._page.first_epoch != first:
            self._page, self._traces, self._traces_pixels = self._drawn_page(first)
            # The technician reads this page for a while: draw the next one meanwhile. A key
            # held down restarts the timer before it fires, and nothing is drawn in vain.
            self._prefetch.start(PREFETCH_DELAY_MS)
        return self._page

    def _drawn_page(self, first: int) -> tuple[Page, QImage, np.ndarray]:
        if first in self._drawn:
            self._drawn.move_to_end(first)
        else:
            page = self.page_renderer().page(first)
            self._drawn[first] = (page, *_trace_image(page, self.devicePixelRatioF()))
            if len(self._drawn) > CACHED_PAGES:
                self._drawn.popitem(last=False)
        return self._drawn[first]

    def _prefetch_next_page(self) -> None:
        if self.session is None or self._renderer is None:
            return
        following = self.session.page_start + self.session.page_epochs
        if following < self.session.n_epochs:
            self._drawn_page(following)

    # ------------------------------------------------------------ painting

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), style.BACKGROUND)
        if self.session is None:
            _draw_empty(painter, self.rect())
            return
        page = self.current_page()
        ratio = self.devicePixelRatioF()
        rect = self.trace_rect()
        scale = 1 / ratio  # page pixels are device pixels
        painter.save()
        painter.translate(rect.topLeft())
        self._draw_current_epoch(painter, page, scale, rect.height())
        self._draw_relevance(painter, page, scale)
        self._draw_grid(painter, page, scale, rect.height())
        painter.drawImage(QPointF(0, 0), self._traces)
        self._draw_quality(painter, page, scale, rect.height())
        painter.restore()
        self._draw_header(painter, page, scale, rect)
        self._draw_labels(painter, page, scale, rect)
        self._draw_axis(painter, page, scale, rect)
        painter.end()

    def _draw_current_epoch(self, painter: QPainter, page: Page, scale: float, height: int):
        if len(page.epochs) <= 1 and self.session.page_epochs == 1:
            return
        x = page.x_of(self.session.current) * scale
        painter.fillRect(QRectF(x, 0, page.epoch_width * scale, height), style.CURRENT)

    def _draw_relevance(self, painter: QPainter, page: Page, scale: float) -> None:
        session = self.session
        explanation = session.explanation
        if not (session.heatmap_visible and explanation is not None):
            return
        for epoch in page.epochs:
            grid = session.relevance_grid(epoch)
            if grid is None:
                continue
            # Only the cells that stand out are drawn (about half): a few dozen small
            # rectangles cost less than blending a page-sized image.
            for x, y, width, height, value in overlay_cells(page, epoch, grid, explanation.slots):
                painter.fillRect(
                    QRectF(x * scale, y * scale, width * scale, height * scale),
                    RELEVANCE_SHADES[round(255 * RELEVANCE_ALPHA * value)],
                )

    def _draw_quality(self, painter: QPainter, page: Page, scale: float, height: int) -> None:
        """Grey a signal the model could not read in an epoch (naming the problem), and draw
        interruptions of the recording as gaps."""
        session = self.session
        painter.setFont(style.font(8.5, bold=True))
        metrics = painter.fontMetrics()
        for epoch in page.epochs:
            lost = session.unusable_slots(epoch)
            if not lost:
                continue
            left = page.x_of(epoch) * scale
            width = page.epoch_width * scale
            for row in page.rows:
                problem = lost.get(row.slot)
                if problem is None or problem == "no data":
                    continue
                cell = QRectF(left, row.top * scale, width, row.height * scale)
                painter.fillRect(cell, style.LOST_SIGNAL)
                painter.setPen(style.QUALITY)
                room = cell.adjusted(6, 2, -6, -2)
                texts = (f"{row.label} {problem}: not read by the AI", f"{row.label} {problem}")
                fits = (t for t in texts if metrics.horizontalAdvance(t) <= room.width())
                painter.drawText(
                    room,
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                    next(
                        fits, metrics.elidedText(problem, Qt.TextElideMode.ElideRight, room.width())
                    ),
                )
        first_s = page.first_epoch * page.epoch_s
        stop_s = (page.first_epoch + len(page.epochs)) * page.epoch_s
        painter.setFont(style.font(10, bold=True))
        for start, end in session.gap_spans(first_s, stop_s):
            left = (start - first_s) * page.px_per_s * scale
            right = (end - first_s) * page.px_per_s * scale
            gap = QRectF(left, 0, right - left, height)
            painter.fillRect(gap, style.PANEL)
            painter.fillRect(gap, QBrush(style.RULE, Qt.BrushStyle.BDiagPattern))
            painter.setPen(style.MUTED)
            if right - left > 90:
                painter.drawText(
                    gap, Qt.AlignmentFlag.AlignCenter, "no data\n(recording interrupted)"
                )

    def _draw_grid(self, painter: QPainter, page: Page, scale: float, height: int) -> None:
        per_second = page.px_per_s * scale
        width = page.epoch_width * self.session.page_epochs * scale
        seconds = int(round(self.session.page_epochs * page.epoch_s))
        painter.setPen(QPen(style.RULE, 1))
        for row in page.rows[1:]:
            painter.drawLine(QPointF(0, row.top * scale), QPointF(width, row.top * scale))
        for second in range(1, seconds):
            x = round(second * per_second) + 0.5
            if second % int(page.epoch_s) == 0:
                painter.setPen(QPen(style.EPOCH_EDGE, 1))
            elif second % 5 == 0:
                painter.setPen(QPen(style.GRID_FIVE, 1))
            elif per_second >= 6:
                painter.setPen(QPen(style.GRID_SECOND, 1))
            else:
                continue
            painter.drawLine(QPointF(x, 0), QPointF(x, height))

    def _draw_header(self, painter: QPainter, page: Page, scale: float, rect: QRect) -> None:
        session = self.session
        painter.fillRect(QRect(0, 0, self.width(), HEADER_HEIGHT), style.PANEL)
        painter.setPen(style.INK)
        painter.setFont(style.font(9.5, bold=True))
        page_text = f"{session.settings.page_s} s page"
        painter.drawText(
            QRect(8, 0, LABEL_WIDTH - 12, HEADER_HEIGHT),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            page_text,
        )
        width = page.epoch_width * scale
        for epoch in range(page.first_epoch, page.first_epoch + session.page_epochs):
            if epoch >= session.n_epochs:
                break
            left = rect.left() + page.x_of(epoch) * scale
            cell = QRectF(left + 6, 0, width - 10, HEADER_HEIGHT)
            current = epoch == session.current
            painter.setFont(style.font(9.5 if current else 9, bold=current))
            text = _epoch_caption(session, epoch, painter.fontMetrics(), cell.width())
            painter.setPen(style.INK if current else style.MUTED)
            painter.drawText(cell, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
        painter.setPen(QPen(style.RULE, 1))
        painter.drawLine(0, HEADER_HEIGHT - 1, self.width(), HEADER_HEIGHT - 1)

    def _draw_labels(self, painter: QPainter, page: Page, scale: float, rect: QRect) -> None:
        painter.fillRect(QRect(0, rect.top(), LABEL_WIDTH - 1, rect.height()), style.PANEL)
        bar_x = LABEL_WIDTH - 14
        for row in page.rows:
            top = rect.top() + row.top * scale
            height = row.height * scale
            ink = QColor(style.TRACE_COLOURS[row.modality])
            painter.setPen(ink)
            painter.setFont(style.font(9.5, bold=True))
            line = painter.fontMetrics().height()
            middle = top + height / 2
            painter.drawText(
                QRectF(8, middle - line, bar_x - 14, line),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
                painter.fontMetrics().elidedText(
                    row.label, Qt.TextElideMode.ElideRight, bar_x - 14
                ),
            )
            painter.setPen(style.MUTED)
            painter.setFont(style.font(8.5))
            painter.drawText(
                QRectF(8, middle, bar_x - 14, painter.fontMetrics().height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                f"{_number(row.gain)} {row.unit}",
            )
            # Scale bar: one division (the gain) upwards from the row's baseline.
            division = row.division_px * scale
            painter.setPen(QPen(style.INK, 1.5))
            painter.drawLine(QPointF(bar_x, middle), QPointF(bar_x, middle - division + 1))
            painter.drawLine(QPointF(bar_x - 3, middle), QPointF(bar_x + 3, middle))
            painter.drawLine(
                QPointF(bar_x - 3, middle - division + 1), QPointF(bar_x + 3, middle - division + 1)
            )
        painter.setPen(QPen(style.RULE, 1))
        painter.drawLine(LABEL_WIDTH - 1, rect.top(), LABEL_WIDTH - 1, rect.bottom())

    def _draw_axis(self, painter: QPainter, page: Page, scale: float, rect: QRect) -> None:
        session = self.session
        top = rect.bottom() + 1
        painter.fillRect(QRect(0, top, self.width(), AXIS_HEIGHT), style.PANEL)
        painter.setPen(QPen(style.RULE, 1))
        painter.drawLine(rect.left(), top, rect.right(), top)
        per_second = page.px_per_s * scale
        seconds = int(round(session.page_epochs * page.epoch_s))
        step = next((s for s in (5, 10, 15, 30, 60) if s * per_second >= MIN_LABEL_SPACING_PX), 60)
        painter.setFont(style.font(8.5))
        for second in range(0, seconds + 1):
            x = rect.left() + round(second * per_second) + 0.5
            tick = 6 if second % 5 == 0 else 3
            if second % 5 and per_second < 6:
                continue
            painter.setPen(QPen(style.MUTED, 1))
            painter.drawLine(QPointF(x, top), QPointF(x, top + tick))
            if second % step == 0 and second < seconds:
                epoch = page.first_epoch + int(second // page.epoch_s)
                clock = session.clock_time(epoch, second % page.epoch_s)
                painter.drawText(QPointF(x + 3, top + 19), f"{clock:%H:%M:%S}")

    # ------------------------------------------------------------ mouse

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.session is None or self._page is None:
            return
        rect = self.trace_rect()
        x = (event.position().x() - rect.left()) * self.devicePixelRatioF()
        if x < 0:
            return
        epoch = self._page.first_epoch + int(x // self._page.epoch_width)
        if epoch in self._page.epochs:
            self.epoch_clicked.emit(epoch)


def _ink_table(colour: str) -> np.ndarray:
    """Premultiplied ARGB of ``colour`` at each coverage 0–255: one lookup inks a row."""
    ink = QColor(colour)
    alpha = np.arange(256, dtype=np.uint32)
    return (
        (alpha << 24)
        | ((alpha * ink.red() // 255) << 16)
        | ((alpha * ink.green() // 255) << 8)
        | (alpha * ink.blue() // 255)
    )


INK_TABLES = {modality: _ink_table(colour) for modality, colour in style.TRACE_COLOURS.items()}
RELEVANCE_SHADES = [
    QColor(style.RELEVANCE.red(), style.RELEVANCE.green(), style.RELEVANCE.blue(), a)
    for a in range(256)
]


def _trace_image(page: Page, ratio: float) -> tuple[QImage, np.ndarray]:
    """The page's coverage pixels inked per channel type, and the buffer the image shows
    (kept alive with it, so no copy is made)."""
    height, width = page.pixels.shape
    argb = np.zeros((height, width), np.uint32)
    for row in page.rows:
        band = slice(row.top, row.top + row.height)
        np.take(INK_TABLES[row.modality], page.pixels[band], out=argb[band])
    image = QImage(argb.data, width, height, width * 4, QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(ratio)
    return image, argb


def _epoch_caption(session: StudySession, epoch: int, metrics, width: float) -> str:
    """The longest caption of ``epoch`` that fits ``width``: number, clock, both stages."""
    clock = f"{session.clock_time(epoch):%H:%M:%S}"
    ai, technician = session.ai_stage(epoch), session.review.stage(epoch)
    shown = technician if technician is not None else ai
    ai_text, technician_text = style.stage_text(ai), style.stage_text(technician)
    captions = (
        f"Epoch {epoch + 1} / {session.n_epochs}    {clock}    AI {ai_text}    "
        f"Technician {technician_text}",
        f"Epoch {epoch + 1}  {clock}  AI {ai_text}  Tech {technician_text}",
        f"Epoch {epoch + 1}  {clock}",
        f"Epoch {epoch + 1}  {style.stage_text(shown)}",
        f"{epoch + 1}  {style.stage_text(shown)}",
    )
    return next((c for c in captions if metrics.horizontalAdvance(c) <= width), captions[-1])


def _draw_empty(painter: QPainter, rect: QRect) -> None:
    painter.setPen(style.MUTED)
    painter.setFont(style.font(13))
    painter.drawText(
        rect,
        Qt.AlignmentFlag.AlignCenter,
        "Open a study: File ▸ Open… (Ctrl+O), a recent file, or drop an EDF/BDF file here",
    )


def _number(value: float) -> str:
    """A gain as a technician writes it: ``1000``, ``390``, ``7.5``, ``0.25``.

    >>> [_number(v) for v in (1000.0, 390.32, 75.0, 7.5, 0.25)]
    ['1000', '390', '75', '7.5', '0.25']
    """
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"
