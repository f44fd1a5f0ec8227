"""Canonical signal slots: the rows of the technician screen, top to bottom.

This table is the contract of DESIGN.md ("Canonical signal slots"). The loader maps
each recording's channels onto these slots; the renderer draws one row per slot;
the model learns one embedding per slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Modality(StrEnum):
    EEG = "EEG"
    EOG = "EOG"
    EMG = "EMG"
    ECG = "ECG"
    RESP = "RESP"
    SPO2 = "SPO2"


@dataclass(frozen=True)
class SlotSpec:
    name: str
    modality: Modality
    band_hz: tuple[float, float] | None
    """AASM display filter (high-pass, low-pass); ``None`` = unfiltered."""
    range: tuple[float, float] | None
    """Fixed physical range of the row (bottom, top in ``unit``); ``None`` = robust auto."""
    unit: str
    """Loaded unit: ``uV`` for electrophysiology, ``%`` for SpO2, native for breathing."""

    @property
    def is_electrophysiology(self) -> bool:
        return self.modality in (Modality.EEG, Modality.EOG, Modality.EMG, Modality.ECG)


SLOTS: tuple[SlotSpec, ...] = (
    SlotSpec("EEG_F", Modality.EEG, (0.3, 35.0), (-75.0, 75.0), "uV"),
    SlotSpec("EEG_C", Modality.EEG, (0.3, 35.0), (-75.0, 75.0), "uV"),
    SlotSpec("EEG_O", Modality.EEG, (0.3, 35.0), (-75.0, 75.0), "uV"),
    SlotSpec("EOG_L", Modality.EOG, (0.3, 35.0), (-150.0, 150.0), "uV"),
    SlotSpec("EOG_R", Modality.EOG, (0.3, 35.0), (-150.0, 150.0), "uV"),
    SlotSpec("EMG_CHIN", Modality.EMG, (10.0, 100.0), (-50.0, 50.0), "uV"),
    SlotSpec("ECG", Modality.ECG, (0.3, 70.0), (-1000.0, 1000.0), "uV"),
    SlotSpec("FLOW", Modality.RESP, (0.1, 15.0), None, "native"),
    SlotSpec("EFFORT_THO", Modality.RESP, (0.1, 15.0), None, "native"),
    SlotSpec("EFFORT_ABD", Modality.RESP, (0.1, 15.0), None, "native"),
    SlotSpec("SPO2", Modality.SPO2, None, (80.0, 100.0), "%"),
)

DISPLAY_FILTER_ORDER = 2
"""Butterworth order of each display band edge; the renderer runs it forward and back."""

SLOT_NAMES: tuple[str, ...] = tuple(s.name for s in SLOTS)
SLOT_BY_NAME: dict[str, SlotSpec] = {s.name: s for s in SLOTS}
EEG_SLOTS: tuple[str, ...] = tuple(s.name for s in SLOTS if s.modality is Modality.EEG)

EPOCH_SECONDS = 30.0
