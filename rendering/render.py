"""Epoch images of a night: the technician's 30-s screen, one row per canonical slot.

One code path draws both the model's 176 × 240 input and the GUI's full-screen view
(``config.with_size(1920, 1080)``); the GUI only adds labels and overlays on top.

The night is processed in chunks of :data:`CHUNK_EPOCHS` epochs: each slot's display trace
for a chunk is filtered (see :mod:`sleepvit.rendering.filters`), rasterised
(:mod:`sleepvit.rendering.raster`) and dropped, so memory stays flat however long the night.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sleepvit.errors import SleepVitError
from sleepvit.rendering.calibration import epoch_rms, is_calibrated, night_level, range_factor
from sleepvit.rendering.config import RenderConfig, RowStyle
from sleepvit.rendering.filters import TracePlan, plan_trace
from sleepvit.rendering.raster import column_extents, draw_spans, value_to_row
from sleepvit.slots import SLOT_BY_NAME
from sleepvit.study import SlotSignal, Study

CHUNK_EPOCHS = 20
"""Epochs filtered together: 10 minutes, long next to every filter's settling padding."""
CACHED_CHUNKS = 2
"""Filtered chunks kept for the GUI, which steps back and forth one epoch at a time."""
LEVEL_CHUNKS = 12
"""Chunks (of :data:`CHUNK_EPOCHS` epochs) a night's calibration level is measured on."""
AUTO_PERCENTILE = 99.0
AUTO_HEADROOM = 1.25
"""A row with automatic scale spans ±1.25 × the night's 99th percentile of |signal|: ordinary
breaths fill about four fifths of the row, the rare larger ones clip."""


@dataclass(frozen=True)
class RowLayout:
    """Where and how one slot is drawn: what the GUI needs to label the row."""

    slot: str
    top: int
    """First pixel row of this slot in the image."""
    height: int
    present: bool
    label: str
    """Source channel label, e.g. ``C4-M1``; empty when the slot is missing."""
    unit: str
    value_range: tuple[float, float] | None
    """``(bottom, top)`` value of the row as drawn (automatic scales resolved); ``None`` when
    the slot is missing. With ``negative_up`` the bottom value is drawn at the top."""
    negative_up: bool
    envelope: bool
    """The source is an amplitude envelope drawn as a symmetric band (Sleep-EDF chin EMG)."""


@dataclass(frozen=True)
class EpochImages:
    """Rendered epochs: ``images[i]`` shows epoch ``epochs[i]``.

    ``images`` is uint8 ``[n, config.height, config.width]``; ``present`` is bool
    ``[len(config.slots)]`` in ``config.slots`` order (a missing slot is a blank row).
    """

    images: np.ndarray
    present: np.ndarray
    config: RenderConfig
    epochs: np.ndarray
    rows: tuple[RowLayout, ...]


class EpochRenderer:
    """Draws epochs of one night; keeps per-night state (automatic scales, recent chunks).

    Build it once per night and call :meth:`render` as often as needed — the GUI does so for
    each epoch it shows. Automatic scales (breathing rows) are computed here, once, over the
    whole night, so they never change from epoch to epoch.

    Examples
    --------
    >>> from datetime import datetime
    >>> import numpy as np
    >>> from sleepvit.study import SlotSignal, Study
    >>> eeg = np.zeros(100 * 300, dtype=np.float32)
    >>> study = Study("night.edf", datetime(2026, 1, 1, 22), 300.0,
    ...               {"EEG_C": SlotSignal("EEG_C", eeg, 100.0, "C3-A2", "uV")})
    >>> renderer = EpochRenderer(study)
    >>> renderer.render([3, 4]).images.shape
    (2, 176, 240)
    >>> screen = EpochRenderer(study, RenderConfig().with_size(1920, 1080), antialias=True)
    >>> screen.render([3]).images.shape
    (1, 1078, 1920)
    """

    def __init__(
        self,
        study: Study,
        config: RenderConfig | None = None,
        *,
        antialias: bool = False,
    ):
        self.study = study
        self.config = config if config is not None else RenderConfig()
        self.antialias = antialias
        unknown = [slot for slot in self.config.slots if slot not in SLOT_BY_NAME]
        if unknown:
            raise ValueError(f"render config names unknown slots {unknown}")
        self._plans: dict[str, TracePlan] = {
            style.slot: plan_trace(
                style.slot,
                style.band_hz,
                study.signals[style.slot].sfreq,
                self.config.width,
                self.config.epoch_s,
                self.config.notch_hz,
            )
            for style in self.config.rows
            if style.slot in study.signals
        }
        self._cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self.calibration: dict[str, float] = {}
        """Factor by which each night-calibrated row's range was widened (empty if physical)."""
        self.rows = tuple(self._layout(i, style) for i, style in enumerate(self.config.rows))

    @property
    def n_epochs(self) -> int:
        return self.study.n_epochs

    @property
    def present(self) -> np.ndarray:
        return np.array([row.present for row in self.rows], dtype=bool)

    def render(self, epochs: Iterable[int] | None = None) -> EpochImages:
        """Images of ``epochs`` (indices from 0, in the order given; default: every epoch)."""
        wanted = self._check_epochs(epochs)
        cfg = self.config
        images = np.full((wanted.size, cfg.height, cfg.width), cfg.background, dtype=np.uint8)
        chunk_of = wanted // CHUNK_EPOCHS
        for chunk in np.unique(chunk_of):
            positions = np.flatnonzero(chunk_of == chunk)
            offsets = (wanted[positions] - chunk * CHUNK_EPOCHS).tolist()
            traces = self._chunk_traces(int(chunk))
            for row in self.rows:
                if row.present:
                    images[positions, row.top : row.top + row.height] = self._draw_row(
                        row, traces[row.slot], offsets
                    )
        return EpochImages(images, self.present, cfg, wanted, self.rows)

    def display_samples(self, slot: str, epoch: int) -> tuple[np.ndarray, float]:
        """The filtered samples one row draws for ``epoch`` and their rate in Hz.

        For readouts in the GUI (value under the cursor) and for reference drawings.
        """
        plan = self._plans[slot]
        epoch = int(self._check_epochs([epoch])[0])
        start = epoch * plan.samples_per_epoch
        offset = start - (epoch // CHUNK_EPOCHS) * CHUNK_EPOCHS * plan.samples_per_epoch
        trace = self._chunk_traces(epoch // CHUNK_EPOCHS)[slot]
        return trace[offset + 1 : offset + 1 + plan.samples_per_epoch], plan.fs_out

    def _check_epochs(self, epochs: Iterable[int] | None) -> np.ndarray:
        if epochs is None:
            return np.arange(self.n_epochs)
        wanted = np.asarray(list(epochs), dtype=np.int64).reshape(-1)
        outside = wanted[(wanted < 0) | (wanted >= self.n_epochs)]
        if outside.size:
            raise SleepVitError(
                f"epoch {int(outside[0])} is outside the recording, which has epochs "
                f"0-{self.n_epochs - 1}; choose epochs in that range",
                self.study.path,
            )
        return wanted

    def _draw_row(self, row: RowLayout, trace: np.ndarray, offsets: list[int]) -> np.ndarray:
        plan = self._plans[row.slot]
        span = plan.samples_per_epoch
        per_epoch = np.stack([trace[o * span : (o + 1) * span + 2] for o in offsets])
        lowest, highest = column_extents(
            per_epoch, self.config.width, plan.samples_per_column, plan.envelope
        )
        return draw_spans(
            value_to_row(lowest, row.value_range, row.height, row.negative_up),
            value_to_row(highest, row.value_range, row.height, row.negative_up),
            row.height,
            self.antialias,
            self.config.background,
            self.config.trace,
        )

    def _chunk_traces(self, chunk: int) -> dict[str, np.ndarray]:
        """Display samples of every present slot over one chunk, plus one neighbour each side."""
        if chunk in self._cache:
            self._cache.move_to_end(chunk)
            return self._cache[chunk]
        first = chunk * CHUNK_EPOCHS
        last = min(first + CHUNK_EPOCHS, self.n_epochs)
        traces = {
            slot: plan.segment(
                self.study.signals[slot].data,
                first * plan.samples_per_epoch - 1,
                last * plan.samples_per_epoch + 1,
            )
            for slot, plan in self._plans.items()
        }
        self._cache[chunk] = traces
        if len(self._cache) > CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return traces

    def _layout(self, index: int, style: RowStyle) -> RowLayout:
        cfg = self.config
        source: SlotSignal | None = self.study.signals.get(style.slot)
        plan = self._plans.get(style.slot)
        if source is None or plan is None:
            value_range = None
        elif style.range is not None and cfg.calibration == "night" and is_calibrated(style.slot):
            factor = range_factor(style.slot, night_level(self._epoch_rms(source, plan)))
            self.calibration[style.slot] = factor
            value_range = (style.range[0] * factor, style.range[1] * factor)
        elif style.range is not None:
            value_range = style.range
        else:
            value_range = self._automatic_range(source, plan)
        return RowLayout(
            slot=style.slot,
            top=index * cfg.row_px,
            height=cfg.row_px,
            present=source is not None,
            label=source.label if source is not None else "",
            unit=source.unit if source is not None else "",
            value_range=value_range,
            negative_up=cfg.negative_up and SLOT_BY_NAME[style.slot].is_electrophysiology,
            envelope=plan is not None and plan.envelope,
        )

    def _epoch_rms(self, source: SlotSignal, plan: TracePlan) -> np.ndarray:
        """RMS of the display trace of epochs spread over the whole night: every chunk of a
        short recording, at most :data:`LEVEL_CHUNKS` evenly spaced chunks of a long one (the
        level is a percentile; filtering a whole night once more would cost half a render)."""
        span = CHUNK_EPOCHS * plan.samples_per_epoch
        total = max(self.n_epochs, 1) * plan.samples_per_epoch
        starts = range(0, total, span)
        picked = np.unique(np.linspace(0, len(starts) - 1, min(len(starts), LEVEL_CHUNKS)).round())
        return np.concatenate(
            [
                epoch_rms(
                    plan.segment(source.data, starts[i], min(starts[i] + span, total)),
                    plan.samples_per_epoch,
                )
                for i in picked.astype(int)
            ]
        )

    def _automatic_range(self, source: SlotSignal, plan: TracePlan) -> tuple[float, float]:
        """Symmetric range from the whole night's filtered signal, computed chunk by chunk."""
        span = CHUNK_EPOCHS * plan.samples_per_epoch
        total = max(self.n_epochs, 1) * plan.samples_per_epoch
        magnitudes = [
            np.abs(plan.segment(source.data, start, min(start + span, total)))
            for start in range(0, total, span)
        ]
        night = np.concatenate(magnitudes)
        night = night[np.isfinite(night)]
        level = float(np.percentile(night, AUTO_PERCENTILE)) if night.size else 0.0
        half = AUTO_HEADROOM * level if level > 0 else 1.0
        return (-half, half)


def render_epochs(
    study: Study,
    config: RenderConfig | None = None,
    epochs: Iterable[int] | None = None,
    *,
    antialias: bool = False,
) -> EpochImages:
    """Render ``epochs`` of ``study`` (default: all) as technician-screen images.

    Examples
    --------
    >>> from datetime import datetime
    >>> import numpy as np
    >>> from sleepvit.study import SlotSignal, Study
    >>> t = np.arange(256 * 90) / 256
    >>> eeg = (50 * np.sin(2 * np.pi * 2 * t)).astype(np.float32)
    >>> study = Study("night.edf", datetime(2026, 1, 1, 22), 90.0,
    ...               {"EEG_C": SlotSignal("EEG_C", eeg, 256.0, "C4-M1", "uV")})
    >>> out = render_epochs(study)
    >>> out.images.shape, out.images.dtype.name, out.present[:3].tolist()
    ((3, 176, 240), 'uint8', [False, True, False])
    """
    return EpochRenderer(study, config, antialias=antialias).render(epochs)
