"""Dialogs: channel map, display settings, sign-off, the audit log, and errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sleepvit.errors import SleepVitError
from sleepvit.gui.session.review import Review
from sleepvit.gui.session.screen import ScreenRow
from sleepvit.gui.session.settings import (
    FILTERED_TYPES,
    NOTCH_CHOICES,
    NOTCHED_TYPES,
    PAGE_SECONDS,
    DisplaySettings,
)
from sleepvit.rendering import RenderConfig
from sleepvit.slots import SLOT_BY_NAME, SLOT_NAMES
from sleepvit.study import Study

log = logging.getLogger(__name__)

HIGH_PASS_CHOICES = (None, 0.1, 0.16, 0.3, 0.5, 1.0, 5.0, 10.0)
LOW_PASS_CHOICES = (None, 15.0, 30.0, 35.0, 40.0, 70.0, 100.0)
AUTOMATIC = "(automatic)"
NONE = "(none)"


def show_error(parent: QWidget | None, error: BaseException | str, title: str = "SleepViT") -> None:
    """A user-facing error in a dialog; the app goes on. Internal errors are logged in full."""
    if isinstance(error, SleepVitError) or isinstance(error, str):
        text = str(error)
    else:
        log.error("internal error", exc_info=error)
        text = f"Internal error ({type(error).__name__}: {error}). The log has the details."
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("error-dialog")
    box.open()


class ChannelMapDialog(QDialog):
    """Which recording channel (or derivation) fills each slot: the ``--channel-map`` JSON."""

    def __init__(
        self,
        labels: list[str],
        mapped: dict[str, str],
        channel_map: dict | None,
        parent: QWidget | None = None,
    ):
        """``labels``: the recording's channels; ``mapped``: slot → label mapped now."""
        super().__init__(parent)
        self.setWindowTitle("Channel map")
        grid = QGridLayout()
        for column, title in enumerate(("Slot", "Channel", "minus (reference)", "Mapped now")):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, column)
        self.rows: dict[str, tuple[QComboBox, QComboBox]] = {}
        channel_map = channel_map or {}
        for i, slot in enumerate(SLOT_NAMES, start=1):
            active, reference = QComboBox(), QComboBox()
            active.addItems([AUTOMATIC, NONE, *labels])
            reference.addItems(["—", *labels])
            value = channel_map.get(slot, AUTOMATIC) if slot in channel_map else AUTOMATIC
            if value is None:
                active.setCurrentText(NONE)
            elif isinstance(value, list):
                active.setCurrentText(value[0])
                reference.setCurrentText(value[1])
            elif value != AUTOMATIC:
                active.setCurrentText(str(value))
            grid.addWidget(QLabel(slot), i, 0)
            grid.addWidget(active, i, 1)
            grid.addWidget(reference, i, 2)
            grid.addWidget(QLabel(mapped.get(slot, "—")), i, 3)
            self.rows[slot] = (active, reference)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        load, save = QPushButton("Load JSON…"), QPushButton("Save JSON…")
        buttons.addButton(load, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(save, QDialogButtonBox.ButtonRole.ActionRole)
        load.clicked.connect(self._load)
        save.clicked.connect(self._save)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        note = QLabel(
            "Changing the map reloads the recording and scores it again with the AI; "
            "the technician's stages are kept."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(note)
        layout.addWidget(buttons)

    @classmethod
    def for_study(cls, study: Study, channel_map: dict | None, parent=None) -> ChannelMapDialog:
        labels = [channel.label for channel in study.channels]
        mapped = {slot: signal.label for slot, signal in study.signals.items()}
        return cls(labels, mapped, channel_map, parent)

    @classmethod
    def for_recording(cls, path: Path, channel_map: dict | None, parent=None) -> ChannelMapDialog:
        """For a recording that could not be opened as mapped: its channels from the header."""
        from sleepvit.io.edf_header import read_header

        labels = [s.label for s in read_header(path).signals if not s.is_annotation]
        return cls(labels, {}, channel_map, parent)

    def channel_map(self) -> dict:
        """The map as ``--channel-map`` JSON takes it (slots left automatic are absent)."""
        result: dict = {}
        for slot, (active, reference) in self.rows.items():
            chosen = active.currentText()
            if chosen == AUTOMATIC:
                continue
            if chosen == NONE:
                result[slot] = None
            elif reference.currentText() != "—":
                result[slot] = [chosen, reference.currentText()]
            else:
                result[slot] = chosen
        return result

    def _load(self) -> None:
        from sleepvit.io.channels import load_channel_map

        path, _ = QFileDialog.getOpenFileName(self, "Load channel map", "", "JSON (*.json)")
        if not path:
            return
        try:
            loaded = load_channel_map(path)
        except SleepVitError as exc:
            show_error(self, exc)
            return
        for slot, (active, reference) in self.rows.items():
            value = loaded.get(slot, AUTOMATIC) if slot in loaded else AUTOMATIC
            reference.setCurrentText("—")
            if value is None:
                active.setCurrentText(NONE)
            elif isinstance(value, list) and len(value) == 2:
                active.setCurrentText(value[0])
                reference.setCurrentText(value[1])
            else:
                active.setCurrentText(str(value))

    def _save(self) -> None:
        from sleepvit.io.atomic import atomic_open

        path, _ = QFileDialog.getSaveFileName(self, "Save channel map", "", "JSON (*.json)")
        if not path:
            return
        try:
            with atomic_open(Path(path), encoding="utf-8") as handle:
                json.dump(self.channel_map(), handle, indent=1)
        except OSError as exc:
            show_error(self, f"{path}: cannot be written ({exc.strerror}); choose another folder")


class DisplaySettingsDialog(QDialog):
    """Page width, filters and notch per channel type, gain per channel."""

    def __init__(
        self,
        settings: DisplaySettings,
        rows: tuple[ScreenRow, ...],
        model: RenderConfig,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Display settings")
        self._settings = settings
        self.model = model
        self.rows = rows
        self.page = QComboBox()
        for seconds in PAGE_SECONDS:
            self.page.addItem(f"{seconds} s", seconds)
        self.page.setCurrentIndex(PAGE_SECONDS.index(settings.page_s))

        filters = QGroupBox("Filters (display only; the AI always reads its own)")
        filter_grid = QGridLayout(filters)
        for column, title in enumerate(("Type", "High-pass", "Low-pass", "Notch")):
            filter_grid.addWidget(QLabel(f"<b>{title}</b>"), 0, column)
        self.filters: dict[str, tuple[QComboBox, QComboBox, QComboBox | None]] = {}
        for i, modality in enumerate(FILTERED_TYPES, start=1):
            slot = next(s for s, spec in SLOT_BY_NAME.items() if spec.modality is modality)
            band = settings.band_of(slot, model)
            high = _choice_box(HIGH_PASS_CHOICES, band[0] if band and band[0] else None, "Hz")
            low_value = band[1] if band and band[1] != float("inf") else None
            low = _choice_box(LOW_PASS_CHOICES, low_value, "Hz")
            notch = None
            if modality in NOTCHED_TYPES:
                notch = _choice_box(NOTCH_CHOICES, settings.notch_of(slot, model), "Hz")
            filter_grid.addWidget(QLabel(str(modality)), i, 0)
            filter_grid.addWidget(high, i, 1)
            filter_grid.addWidget(low, i, 2)
            if notch is not None:
                filter_grid.addWidget(notch, i, 3)
            self.filters[str(modality)] = (high, low, notch)

        gains = QGroupBox("Gain per channel (units per division; a row is two divisions)")
        gain_form = QFormLayout(gains)
        self.gains: dict[str, QDoubleSpinBox] = {}
        for row in rows:
            box = QDoubleSpinBox()
            box.setDecimals(2)
            box.setRange(0.01, 100000.0)
            box.setValue(row.gain)
            box.setSuffix(f" {row.unit}/div")
            gain_form.addRow(f"{row.label} ({row.slot})", box)
            self.gains[row.slot] = box
        # As the boxes show them (rounded): an untouched box must not pin a gain.
        self._original_gains = {slot: box.value() for slot, box in self.gains.items()}

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self._restore_defaults
        )
        self._defaults = False
        top = QHBoxLayout()
        top.addWidget(QLabel("Page width"))
        top.addWidget(self.page)
        top.addStretch()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(filters)
        layout.addWidget(gains)
        layout.addWidget(buttons)

    def _restore_defaults(self) -> None:
        self._defaults = True
        self.accept()

    def settings(self) -> DisplaySettings:
        """The settings as chosen; gains left as they were keep their earlier setting."""
        page_s = int(self.page.currentData())
        if self._defaults:
            return DisplaySettings(page_s=page_s)
        result = self._settings.with_page(page_s)
        for modality, (high, low, notch) in self.filters.items():
            result = result.with_band(modality, (high.currentData(), low.currentData()))
            if notch is not None:
                result = result.with_notch(modality, notch.currentData())
        for slot, box in self.gains.items():
            if abs(box.value() - self._original_gains[slot]) > 1e-9:
                result = result.with_gain(slot, box.value())
        return result


def _choice_box(choices, current, unit: str) -> QComboBox:
    box = QComboBox()
    for value in choices:
        box.addItem("off" if value is None else f"{value:g} {unit}", value)
    values = list(choices)
    if current not in values:
        box.addItem(f"{current:g} {unit}", current)
        values.append(current)
    box.setCurrentIndex(values.index(current))
    return box


class AuditLogDialog(QDialog):
    """Every edit of the review: time, epoch, old → new, who, how."""

    def __init__(self, review: Review, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Audit log")
        text = QPlainTextEdit()
        text.setReadOnly(True)
        lines = [entry.describe() for entry in review.audit]
        for sign_off in review.sign_offs:
            lines.append(f"{sign_off.time:%Y-%m-%d %H:%M:%S}  signed off by {sign_off.reviewer}")
        text.setPlainText("\n".join(sorted(lines)) or "No edits yet.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Review file: {review.sidecar.path}"))
        layout.addWidget(text)
        layout.addWidget(buttons)
        self.resize(720, 480)
