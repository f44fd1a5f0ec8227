"""Pages of the technician screen, drawn by the project's renderer at the screen's size.

The model reads 30-s epochs drawn by :class:`~sleepvit.rendering.EpochRenderer` with its own
:class:`~sleepvit.rendering.RenderConfig`; the technician screen is the same renderer at the
widget's pixel size, one code path for both. Only the settings a technician may change
(gain, band, notch, page width) differ, and they never reach the model.

Each row has its own renderer, so that gain, filter and notch can differ per channel type
without a second drawing routine; a page of several epochs is their epoch images side by side
(the renderer joins traces across epoch edges, so the seams are invisible). Renderers are
kept between pages and settings changes (:class:`RowRenderers`): turning a page re-filters
nothing that is cached, and a gain change rebuilds one row.

Pixels are trace coverage (0 = background, 255 = trace, anti-aliased in between); the Qt view
colours them, draws the grid and labels, and may lay a relevance map under them
(:func:`overlay_cells`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from sleepvit.gui.session.settings import DisplaySettings, default_gain, range_for_gain
from sleepvit.rendering import EpochRenderer, RenderConfig, RowStyle
from sleepvit.slots import SLOT_BY_NAME, Modality
from sleepvit.study import Study

CACHED_RENDERERS = 48
"""Row renderers kept: every row at a few settings, e.g. while stepping through gains."""
UNIT_NAMES = {"uV": "µV", "UV": "µV", "mV": "mV", "%": "%"}


@dataclass(frozen=True)
class ScreenRow:
    """One signal row of the screen: where it is and how it is scaled (for labels, scale bars)."""

    slot: str
    top: int
    height: int
    label: str
    """The source channel, e.g. ``C4-M1``."""
    unit: str
    """As shown: ``µV``, ``%`` or the file's unit for breathing signals."""
    value_range: tuple[float, float]
    gain: float
    """Units per division (a row is two divisions)."""
    band: tuple[float, float] | None
    notch_hz: float | None
    modality: Modality

    @property
    def division_px(self) -> float:
        return self.height / 2


@dataclass(frozen=True)
class Page:
    """One screenful: ``pixels[y, x]`` trace coverage of ``epochs`` side by side."""

    first_epoch: int
    epochs: range
    """The epochs drawn (fewer than a full page at the end of the night)."""
    pixels: np.ndarray
    rows: tuple[ScreenRow, ...]
    epoch_width: int
    epoch_s: float

    @property
    def px_per_s(self) -> float:
        return self.epoch_width / self.epoch_s

    def x_of(self, epoch: int, seconds: float = 0.0) -> float:
        """Pixel column of ``seconds`` into ``epoch`` (which may lie beyond the drawn ones)."""
        return (epoch - self.first_epoch) * self.epoch_width + seconds * self.px_per_s


class RowRenderers:
    """The per-row renderers of one study, reused across pages and settings.

    Automatic scales (breathing rows) are resolved once per band and notch, so a new gain or
    page width does not re-read the whole night.
    """

    def __init__(self, study: Study, model_config: RenderConfig):
        self.study = study
        self.model_config = model_config
        self._renderers: OrderedDict[tuple, EpochRenderer] = OrderedDict()
        self._auto_ranges: dict[tuple, tuple[float, float]] = {}

    @property
    def slots(self) -> tuple[str, ...]:
        """The mapped signals, in the model's row order (missing slots get no row)."""
        return tuple(s for s in self.model_config.slots if s in self.study.signals)

    def natural_range(self, slot: str, settings: DisplaySettings) -> tuple[float, float]:
        """The row's range at its default gain: the model's fixed scale, or the night's
        automatic one."""
        style = next(r for r in self.model_config.rows if r.slot == slot)
        if style.range is not None:
            return style.range
        band, notch = (
            settings.band_of(slot, self.model_config),
            settings.notch_of(slot, self.model_config),
        )
        key = (slot, band, notch)
        if key not in self._auto_ranges:
            # A model-sized renderer resolves the night's scale quickly; it does not depend
            # on the screen's size.
            model = self.model_config
            probe = EpochRenderer(
                self.study,
                self._config(RowStyle(slot, band, None), notch, model.row_px, model.width),
            )
            self._auto_ranges[key] = probe.rows[0].value_range
        return self._auto_ranges[key]

    def renderer(
        self, style: RowStyle, notch_hz: float | None, row_px: int, epoch_width: int
    ) -> EpochRenderer:
        key = (style, notch_hz, row_px, epoch_width)
        if key in self._renderers:
            self._renderers.move_to_end(key)
            return self._renderers[key]
        renderer = EpochRenderer(
            self.study, self._config(style, notch_hz, row_px, epoch_width), antialias=True
        )
        self._renderers[key] = renderer
        if len(self._renderers) > CACHED_RENDERERS:
            self._renderers.popitem(last=False)
        return renderer

    def _config(
        self, style: RowStyle, notch_hz: float | None, row_px: int, epoch_width: int
    ) -> RenderConfig:
        model = self.model_config
        return replace(
            model,
            rows=(style,),
            notch_hz=notch_hz,
            row_px=row_px,
            px_per_s=epoch_width / model.epoch_s,
            background=0,
            trace=255,
        )


class PageRenderer:
    """Draws pages of ``width`` × ``height`` pixels with the given display settings.

    Examples
    --------
    >>> from datetime import datetime
    >>> from sleepvit.study import SlotSignal, Study
    >>> eeg = SlotSignal("EEG_C", np.zeros(256 * 300, np.float32), 256.0, "C4-M1", "uV")
    >>> study = Study("night.edf", datetime(2026, 1, 1, 22), 300.0, {"EEG_C": eeg})
    >>> rows = RowRenderers(study, RenderConfig())
    >>> page = PageRenderer(rows, DisplaySettings(page_s=60), 1601, 400).page(4)
    >>> page.pixels.shape, list(page.epochs), page.rows[0].gain, page.rows[0].unit
    ((400, 1600), [4, 5], 75.0, 'µV')
    """

    def __init__(self, rows: RowRenderers, settings: DisplaySettings, width: int, height: int):
        self.renderers = rows
        self.settings = settings
        slots = rows.slots
        self.epochs_per_page = settings.page_epochs
        self.epoch_width = max(1, int(width) // self.epochs_per_page)
        self.width = self.epoch_width * self.epochs_per_page
        row_px = max(1, int(height) // max(len(slots), 1))
        self.height = row_px * len(slots)
        self.rows = tuple(self._row(i, slot, row_px) for i, slot in enumerate(slots))

    @property
    def n_epochs(self) -> int:
        return self.renderers.study.n_epochs

    def page_start(self, epoch: int) -> int:
        """First epoch of the page that shows ``epoch`` (pages are aligned to their width)."""
        return (int(epoch) // self.epochs_per_page) * self.epochs_per_page

    def page(self, first_epoch: int) -> Page:
        first = int(first_epoch)
        epochs = range(max(first, 0), min(first + self.epochs_per_page, self.n_epochs))
        pixels = np.zeros((self.height, self.width), np.uint8)
        shown = list(epochs)
        offset = (epochs.start - first) * self.epoch_width
        for row in self.rows:
            if not shown:
                break
            style = RowStyle(row.slot, row.band, row.value_range)
            images = (
                self.renderers.renderer(style, row.notch_hz, row.height, self.epoch_width)
                .render(shown)
                .images
            )
            strip = images.transpose(1, 0, 2).reshape(row.height, -1)
            pixels[row.top : row.top + row.height, offset : offset + strip.shape[1]] = strip
        model = self.renderers.model_config
        return Page(first, epochs, pixels, self.rows, self.epoch_width, model.epoch_s)

    def _row(self, index: int, slot: str, row_px: int) -> ScreenRow:
        model = self.renderers.model_config
        natural = self.renderers.natural_range(slot, self.settings)
        gain = self.settings.gains.get(slot, default_gain(natural))
        signal = self.renderers.study.signals[slot]
        return ScreenRow(
            slot=slot,
            top=index * row_px,
            height=row_px,
            label=signal.label,
            unit=UNIT_NAMES.get(signal.unit, signal.unit),
            value_range=range_for_gain(natural, gain),
            gain=gain,
            band=self.settings.band_of(slot, model),
            notch_hz=self.settings.notch_of(slot, model),
            modality=SLOT_BY_NAME[slot].modality,
        )


def overlay_cells(
    page: Page, epoch: int, grid: np.ndarray, model_slots: tuple[str, ...]
) -> list[tuple[int, int, int, int, float]]:
    """Rectangles ``(x, y, width, height, value)`` of a relevance map of ``epoch`` on ``page``.

    ``grid`` is ``[len(model_slots), n_columns]`` (the model's slots × 2-s columns, as
    :mod:`sleepvit.explain` gives it). ``value`` runs from 0 at the map's median cell to 1 at
    its largest: what stood out, not the even spread of attention over every patch (an
    attention rollout is never zero anywhere). Cells at or below the median, and rows of slots
    not on screen, are left out; a map where nothing stands out draws nothing.

    >>> from datetime import datetime
    >>> rows = (ScreenRow("EEG_C", 0, 50, "C4-M1", "µV", (-75, 75), 75, None, None, Modality.EEG),)
    >>> page = Page(0, range(0, 1), np.zeros((50, 300), np.uint8), rows, 300, 30.0)
    >>> grid = np.full((2, 15), 0.25); grid[1, 3] = 1.25; grid[1, 4] = 0.75
    >>> overlay_cells(page, 0, grid, ("EEG_F", "EEG_C"))
    [(60, 0, 20, 50, 1.0), (80, 0, 20, 50, 0.5)]
    """
    grid = np.asarray(grid, dtype=np.float64)
    if grid.shape[0] != len(model_slots):
        raise ValueError(f"relevance grid has {grid.shape[0]} rows for {len(model_slots)} slots")
    index = {slot: i for i, slot in enumerate(model_slots)}
    shown = [index[row.slot] for row in page.rows if row.slot in index]
    values = grid[shown]
    if not values.size:
        return []
    floor, peak = float(np.median(values)), float(values.max())
    if not peak > floor:
        return []
    n_columns = grid.shape[1]
    edges = [round(page.x_of(epoch, page.epoch_s * c / n_columns)) for c in range(n_columns + 1)]
    cells = []
    for row in page.rows:
        if row.slot not in index:
            continue
        scaled = (grid[index[row.slot]] - floor) / (peak - floor)
        for c in np.flatnonzero(scaled > 0):
            cells.append((edges[c], row.top, edges[c + 1] - edges[c], row.height, float(scaled[c])))
    return cells
