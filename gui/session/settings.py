"""How the technician screen is shown (page width, gains, filters, notch) and what the app
remembers between sessions (recent files, reviewer, folders).

Display settings change only the screen: the model always reads images drawn with its own
:class:`~sleepvit.rendering.RenderConfig`, whatever gain or filter a technician prefers.

Gains are in physical units per division; a row is two divisions tall (one either side of
its baseline), so a gain of 75 µV/div draws the model's ±75 µV EEG row. Filters and notch
are set per channel type (EEG, EOG, EMG, ECG, breathing); the notch applies only to
electrophysiology, as in the renderer.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from sleepvit.io.atomic import atomic_open
from sleepvit.rendering import RenderConfig
from sleepvit.slots import EPOCH_SECONDS, SLOT_BY_NAME, Modality

PAGE_SECONDS: tuple[int, ...] = (30, 60, 120, 300)
"""Page widths a technician can choose; a page is always a whole number of 30-s epochs."""
NOTCH_CHOICES: tuple[float | None, ...] = (None, 50.0, 60.0)
FILTERED_TYPES: tuple[Modality, ...] = (
    Modality.EEG,
    Modality.EOG,
    Modality.EMG,
    Modality.ECG,
    Modality.RESP,
)
"""Channel types with a display band; SpO2 is drawn unfiltered."""
NOTCHED_TYPES: tuple[Modality, ...] = (Modality.EEG, Modality.EOG, Modality.EMG, Modality.ECG)
GAIN_STEPS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000,
    5000,
)  # fmt: skip
"""Sensitivities offered by the gain keys, in units per division (µV for electrophysiology)."""
RECENT_FILES = 10

log = logging.getLogger(__name__)

Band = tuple[float | None, float | None]
"""(high-pass, low-pass) in Hz; ``None`` switches that edge off."""


@dataclass(frozen=True)
class DisplaySettings:
    """What the technician chose for the screen; empty mappings mean the model's defaults.

    >>> settings = DisplaySettings().with_gain("EEG_C", 50.0).with_page(60)
    >>> settings.page_epochs, settings.gains["EEG_C"]
    (2, 50.0)
    >>> DisplaySettings.from_dict(settings.to_dict()) == settings
    True
    """

    page_s: int = 30
    gains: dict[str, float] = field(default_factory=dict)
    """Slot → units per division, for the rows the technician changed."""
    bands: dict[str, Band] = field(default_factory=dict)
    """Channel type (``EEG``, ``EOG``, …) → display band, where it differs from the model's."""
    notch: dict[str, float | None] = field(default_factory=dict)
    """Channel type → mains notch in Hz (or ``None``), where it differs from the model's."""

    def __post_init__(self) -> None:
        if self.page_s not in PAGE_SECONDS:
            raise ValueError(f"page width must be one of {PAGE_SECONDS} s, not {self.page_s}")

    @property
    def page_epochs(self) -> int:
        return int(self.page_s // EPOCH_SECONDS)

    def with_page(self, page_s: int) -> DisplaySettings:
        return replace(self, page_s=int(page_s))

    def with_gain(self, slot: str, units_per_division: float) -> DisplaySettings:
        if not units_per_division > 0:
            raise ValueError(f"gain must be positive, got {units_per_division}")
        return replace(self, gains=self.gains | {slot: float(units_per_division)})

    def with_band(self, modality: str, band: Band) -> DisplaySettings:
        return replace(self, bands=self.bands | {str(modality): band})

    def with_notch(self, modality: str, hz: float | None) -> DisplaySettings:
        return replace(self, notch=self.notch | {str(modality): hz})

    def for_other_studies(self, model: RenderConfig) -> DisplaySettings:
        """The settings worth keeping for the next study: gains of automatically scaled rows
        (breathing) are dropped, as their units and scale differ from night to night.

        >>> settings = DisplaySettings().with_gain("EEG_C", 50.0).with_gain("FLOW", 390.0)
        >>> settings.for_other_studies(RenderConfig()).gains
        {'EEG_C': 50.0}
        """
        fixed = {row.slot for row in model.rows if row.range is not None}
        return replace(self, gains={k: v for k, v in self.gains.items() if k in fixed})

    def band_of(self, slot: str, model: RenderConfig) -> tuple[float, float] | None:
        """The display band of ``slot`` in the renderer's form (``None`` = unfiltered)."""
        modality = str(SLOT_BY_NAME[slot].modality)
        default = next(r.band_hz for r in model.rows if r.slot == slot)
        if modality not in self.bands:
            return default
        high_pass, low_pass = self.bands[modality]
        if high_pass is None and low_pass is None:
            return None
        # The renderer skips an edge it cannot apply: 0 Hz and infinity switch one off.
        return (high_pass or 0.0, low_pass if low_pass is not None else math.inf)

    def notch_of(self, slot: str, model: RenderConfig) -> float | None:
        return self.notch.get(str(SLOT_BY_NAME[slot].modality), model.notch_hz)

    def to_dict(self) -> dict:
        return {
            "page_s": self.page_s,
            "gains": dict(self.gains),
            "bands": {k: list(v) for k, v in self.bands.items()},
            "notch": dict(self.notch),
        }

    @classmethod
    def from_dict(cls, data: dict) -> DisplaySettings:
        return cls(
            page_s=int(data.get("page_s", 30)),
            gains={k: float(v) for k, v in (data.get("gains") or {}).items()},
            bands={k: tuple(v) for k, v in (data.get("bands") or {}).items()},
            notch=dict(data.get("notch") or {}),
        )


def default_gain(value_range: tuple[float, float]) -> float:
    """Units per division of a row drawn over ``value_range`` (two divisions per row).

    >>> default_gain((-75.0, 75.0)), default_gain((80.0, 100.0))
    (75.0, 10.0)
    """
    bottom, top = value_range
    return (top - bottom) / 2


def range_for_gain(value_range: tuple[float, float], gain: float) -> tuple[float, float]:
    """The row's range at ``gain`` units per division, around the same baseline.

    >>> range_for_gain((-75.0, 75.0), 50.0), range_for_gain((80.0, 100.0), 5.0)
    ((-50.0, 50.0), (85.0, 95.0))
    """
    centre = (value_range[0] + value_range[1]) / 2
    return (centre - gain, centre + gain)


def next_gain(gain: float, steps: int) -> float:
    """The gain ``steps`` places along :data:`GAIN_STEPS` (positive = less sensitive).

    >>> next_gain(75.0, -1), next_gain(75.0, 1), next_gain(80.0, 1)
    (50, 100, 100)
    """
    below = [g for g in GAIN_STEPS if g < gain]
    if steps > 0:
        above = [g for g in GAIN_STEPS if g > gain]
        return above[min(steps, len(above)) - 1] if above else gain
    if steps < 0:
        return below[max(len(below) + steps, 0)] if below else gain
    return gain


# ---------------------------------------------------------------- preferences


def preferences_path() -> Path:
    """The app's preferences file in the user's config folder (never inside the install)."""
    return platformdirs.user_config_path("sleepvit", appauthor=False) / "gui.json"


@dataclass
class Preferences:
    """What the app remembers between sessions, kept as JSON in :func:`preferences_path`."""

    recent_files: list[str] = field(default_factory=list)
    reviewer: str = ""
    display: DisplaySettings = field(default_factory=DisplaySettings)
    export_folder: str = ""
    scored_folder: str = ""
    """An extra folder to look in for ``sleepvit score`` outputs."""

    def add_recent(self, path: str | Path) -> None:
        """Put ``path`` first in the recent files, once, keeping the last :data:`RECENT_FILES`.

        >>> prefs = Preferences(recent_files=["/a.edf", "/b.edf"])
        >>> prefs.add_recent("/b.edf"); prefs.recent_files
        ['/b.edf', '/a.edf']
        """
        text = str(Path(path).absolute())
        self.recent_files = [text, *(p for p in self.recent_files if p != text)][:RECENT_FILES]

    @classmethod
    def load(cls, path: Path | None = None) -> Preferences:
        """The saved preferences, or defaults when there are none or they are unreadable."""
        path = path or preferences_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                recent_files=[str(p) for p in data.get("recent_files", [])],
                reviewer=str(data.get("reviewer", "")),
                display=DisplaySettings.from_dict(data.get("display") or {}),
                export_folder=str(data.get("export_folder", "")),
                scored_folder=str(data.get("scored_folder", "")),
            )
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()

    def save(self, path: Path | None = None) -> None:
        """Write atomically. Preferences that cannot be saved are logged, not shown: the review
        itself lives in the sidecar, and a dialog at every start would help no one."""
        path = path or preferences_path()
        data = {
            "recent_files": self.recent_files,
            "reviewer": self.reviewer,
            "display": self.display.to_dict(),
            "export_folder": self.export_folder,
            "scored_folder": self.scored_folder,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, encoding="utf-8") as handle:
                json.dump(data, handle, indent=1)
        except OSError as exc:
            log.warning("preferences not saved to %s: %s", path, exc)


def default_reviewer() -> str:
    """The login name, as a first guess for who is reviewing."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return os.environ.get("USERNAME", "")
