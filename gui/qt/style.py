"""Colours and fonts shared by the views: stage colours are the report's, so the screen and the
PDF a clinician reads agree."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont

from sleepvit.hypnogram import UNS, stage_name
from sleepvit.report.hypnogram_plot import STAGE_COLOURS
from sleepvit.slots import Modality

TRACE_COLOURS: dict[Modality, str] = {
    Modality.EEG: "#111111",
    Modality.EOG: "#0B3D91",
    Modality.EMG: "#1B5E20",
    Modality.ECG: "#8B1A1A",
    Modality.RESP: "#4A2C6F",
    Modality.SPO2: "#00695C",
}
"""One ink per channel type, dark enough to read at one pixel."""

BACKGROUND = QColor("#FFFFFF")
PANEL = QColor("#F4F6F9")
RULE = QColor("#D0D5DC")
GRID_SECOND = QColor("#ECEEF1")
GRID_FIVE = QColor("#CBD1D9")
EPOCH_EDGE = QColor("#6B7785")
MUTED = QColor("#5F6B7A")
INK = QColor("#1A1A1A")
CURRENT = QColor(255, 236, 153, 110)
"""Behind the current epoch of a page wider than one epoch."""
RELEVANCE = QColor(255, 120, 0)
QUALITY = QColor("#9A5B00")
"""Text about signal quality (a lost or unreadable signal)."""
QUALITY_MARK = QColor("#F0B429")
"""On the navigator: epochs scored without one of their signals."""
LOST_SIGNAL = QColor(120, 120, 120, 60)
"""Over a signal the model could not read in an epoch."""
OOD_FILL = QColor("#FFF3CD")
OOD_EDGE = QColor("#E0A800")
OOD_INK = QColor("#5C4100")
"""The amber box of a recording unlike the training data (:mod:`sleepvit.models.ood`)."""
SUPPORT = QColor("#2E7D32")
AGAINST = QColor("#C62828")
NOT_REVIEWED = QColor("#E3E6EA")
LOW_CONFIDENCE = QColor(STAGE_COLOURS["REM"])
CONFIDENCE = QColor("#8AA6C1")


def stage_colour(code: int | None) -> QColor:
    """The report's colour of a stage code; light grey for an epoch not reviewed."""
    if code is None:
        return QColor(NOT_REVIEWED)
    return QColor(STAGE_COLOURS[stage_name(code)] if code != UNS else STAGE_COLOURS["UNS"])


def stage_text(code: int | None) -> str:
    return "—" if code is None else stage_name(code)


def font(point_size: float, bold: bool = False) -> QFont:
    chosen = QFont()
    chosen.setPointSizeF(point_size)
    chosen.setBold(bold)
    return chosen
