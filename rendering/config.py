"""How an epoch is drawn. Saved with every model; a model refuses images drawn otherwise."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from sleepvit.rendering.calibration import CALIBRATIONS
from sleepvit.slots import SLOTS


@dataclass(frozen=True)
class RowStyle:
    """Display settings of one row (one canonical slot)."""

    slot: str
    band_hz: tuple[float, float] | None
    range: tuple[float, float] | None
    """(bottom, top) in physical units; ``None`` = robust automatic scale per night."""


def _default_rows() -> tuple[RowStyle, ...]:
    return tuple(RowStyle(s.name, s.band_hz, s.range) for s in SLOTS)


@dataclass(frozen=True)
class RenderConfig:
    """Geometry and display filters of the technician screen (DESIGN.md defaults)."""

    rows: tuple[RowStyle, ...] = field(default_factory=_default_rows)
    notch_hz: float | None = None
    """Mains notch: 50, 60 or ``None`` (off)."""
    row_px: int = 16
    px_per_s: float = 8.0
    epoch_s: float = 30.0
    negative_up: bool = True
    """Clinical convention for electrophysiology: negative deflections drawn upwards."""
    background: int = 0
    trace: int = 255
    calibration: str = "physical"
    """``physical`` (fixed µV per row) or ``night`` (EEG, EOG and chin EMG rows scaled to the
    night's level, :mod:`sleepvit.rendering.calibration`); the model's choice, never the
    technician screen's."""

    def __post_init__(self):
        if self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"calibration {self.calibration!r} is not one of {', '.join(CALIBRATIONS)}"
            )

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(r.slot for r in self.rows)

    @property
    def height(self) -> int:
        return self.row_px * len(self.rows)

    @property
    def width(self) -> int:
        return int(round(self.epoch_s * self.px_per_s))

    def with_size(self, width: int, height: int) -> RenderConfig:
        """The same screen at another resolution (e.g. the GUI's 1920 × 1080)."""
        return replace(self, px_per_s=width / self.epoch_s, row_px=max(1, height // len(self.rows)))

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["calibration"] == "physical":
            # Physically drawn configs keep the dict, and so the fingerprint, they had before
            # calibration existed: weights, ONNX files and caches made then stay valid.
            del data["calibration"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RenderConfig:
        rows = tuple(
            RowStyle(
                r["slot"],
                tuple(r["band_hz"]) if r["band_hz"] is not None else None,
                tuple(r["range"]) if r["range"] is not None else None,
            )
            for r in data["rows"]
        )
        return cls(**{**data, "rows": rows})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RenderConfig:
        return cls.from_dict(json.loads(text))

    def fingerprint(self) -> str:
        """Short hash that identifies the drawing; equal configs give equal fingerprints."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
