"""The clinical hypnogram drawing: W on top, REM as a thick bar, a confidence strip below.

Used by the PDF report and on its own as a PNG (:func:`write_hypnogram_png`). The time axis
shows clock time when the hypnogram knows its start, hours since the start otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from sleepvit.hypnogram import STAGE_CODE, STAGES, UNS, Hypnogram
from sleepvit.io.atomic import atomic_path
from sleepvit.io.quality import NO_DATA_REASON
from sleepvit.report.fonts import report_style
from sleepvit.report.review import REVIEW_THRESHOLD

STAGE_COLOURS: dict[str, str] = {
    "W": "#E8A33D",
    "REM": "#D62839",
    "N1": "#7FB7E6",
    "N2": "#2F74C0",
    "N3": "#163E7A",
    "UNS": "#B0B0B0",
}
"""One colour per stage, shared by every figure of the report."""

# Clinical order, top to bottom: W, REM, N1, N2, N3.
_ROW = {"W": 4, "REM": 3, "N1": 2, "N2": 1, "N3": 0}
# Indexed by stage code; UNS (-1) picks the trailing NaN, which breaks the line.
_ROW_OF_CODE = np.array([_ROW[name] for name in STAGES] + [np.nan])
_NAME_OF_CODE = {code: name for name, code in STAGE_CODE.items()}


def draw_hypnogram(ax: Axes, hyp: Hypnogram, lights: tuple[float, float] | None = None) -> None:
    """Draw ``hyp`` into ``ax``: hours on x (see :func:`format_time_axis`), one row per stage.

    ``lights`` = (lights off, lights on) in seconds from the recording start, drawn as
    dashed lines. Unscored epochs are grey bands; epochs without data (the recording was
    interrupted) are hatched gaps, labelled "no data" where there is room.
    """
    hours = _epoch_edges_h(hyp)
    rows = _ROW_OF_CODE[hyp.stages]
    # Thin vertical connectors make transitions readable; the coloured runs sit on top.
    ax.step(hours[:-1], rows, where="post", color="#404040", linewidth=0.6, zorder=2)
    segments, colours, widths = [], [], []
    no_data = _no_data_runs(hyp)
    for first, stop in no_data:
        # Above the grey of unscored epochs: no data is not an artefact.
        ax.axvspan(
            first, stop, facecolor="white", edgecolor="#9A9A9A", hatch="////", lw=0, zorder=1.5
        )
        if stop - first > 0.04 * (hours[-1] - hours[0]):
            middle = (first + stop) / 2
            ax.text(middle, 2, "no data", rotation=90, ha="center", va="center", fontsize=6)
    for onset_s, duration_s, code in hyp.segments():
        first, stop = onset_s / 3600, (onset_s + duration_s) / 3600
        name = _NAME_OF_CODE[code]
        if code == UNS:
            ax.axvspan(first, stop, color=STAGE_COLOURS["UNS"], alpha=0.35, lw=0)
            continue
        row = _ROW[name]
        segments.append([(first, row), (stop, row)])
        colours.append(STAGE_COLOURS[name])
        widths.append(6.0 if name == "REM" else 3.0)
    ax.add_collection(
        LineCollection(segments, colors=colours, linewidths=widths, capstyle="butt", zorder=3)
    )
    if lights is not None:
        off_h, on_h = (seconds / 3600 for seconds in lights)
        # Time out of bed is greyed: no statistic counts it.
        for first, last in ((hours[0], off_h), (on_h, hours[-1])):
            if last > first:
                ax.axvspan(first, last, color="#EDEDED", lw=0, zorder=0)
        for x, label in ((off_h, "lights off"), (on_h, "lights on")):
            if not hours[0] < x < hours[-1]:
                continue  # lights at the recording's edge: nothing to mark
            ax.axvline(x, color="#606060", linestyle="--", linewidth=0.8, zorder=1)
            ax.text(
                x,
                4.55,
                label,
                fontsize=6,
                color="#404040",
                ha="center",
                va="bottom",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
            )
    ax.set_yticks(list(_ROW.values()), list(_ROW))
    for tick in ax.get_yticklabels():
        tick.set_color(STAGE_COLOURS[tick.get_text()])
        tick.set_fontweight("bold")
    ax.set_ylim(-0.6, 5.0 if lights is not None else 4.6)  # room for the lights labels
    ax.set_xlim(hours[0], hours[-1])
    ax.grid(axis="x", color="#E0E0E0", linewidth=0.6)
    ax.grid(axis="y", color="#F0F0F0", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    format_time_axis(ax, hyp)


def draw_confidence(
    ax: Axes, hyp: Hypnogram, threshold: float = REVIEW_THRESHOLD, flagged=None
) -> None:
    """Per-epoch model confidence as a filled strip; epochs in ``flagged`` are shaded red.

    ``flagged`` defaults to the epochs below ``threshold``. Without probabilities (a human
    scoring) the strip says so instead.
    """
    hours = _epoch_edges_h(hyp)
    ax.set_xlim(hours[0], hours[-1])
    ax.set_ylim(0, 1)
    ax.set_yticks([0, threshold, 1], ["0", f"{threshold:g}", "1"])
    ax.tick_params(axis="y", labelsize=6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    format_time_axis(ax, hyp)
    if hyp.confidence is None:
        ax.text(
            0.5,
            0.5,
            "no model probabilities (manual scoring)",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=7,
            color="#808080",
        )
        return
    confidence = np.where(hyp.stages == UNS, np.nan, hyp.confidence)
    # Unscored epochs (NaN) leave exactly their own width blank.
    ax.stairs(np.nan_to_num(confidence, nan=0.0), hours, fill=True, color="#8AA6C1", lw=0)
    if flagged is None:
        flagged = np.flatnonzero(np.nan_to_num(confidence, nan=1.0) < threshold)
    flagged = np.asarray(list(flagged), dtype=np.int64)
    ax.bar(
        hours[flagged],
        confidence[flagged],
        width=hyp.epoch_s / 3600,
        align="edge",
        color=STAGE_COLOURS["REM"],
        linewidth=0,
    )
    ax.axhline(threshold, color="#404040", linestyle=":", linewidth=0.7)


def format_time_axis(ax: Axes, hyp: Hypnogram) -> None:
    """Label x (hours since the recording start) with clock times on whole hours if possible."""
    first, last = hyp.offset_s / 3600, (hyp.offset_s + hyp.duration_s) / 3600
    span = max(last - first, 1e-9)
    step_h = 1.0 if span > 2 else 0.25 if span > 0.5 else 5 / 60
    if hyp.start is None:
        ticks = np.arange(np.ceil(first / step_h) * step_h, last + 1e-9, step_h)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _elapsed(x)))
        return
    # Ticks fall on whole clock hours (or quarters), not on whole hours since the start.
    start_h = hyp.start.hour + hyp.start.minute / 60 + hyp.start.second / 3600
    clock_first = start_h + first
    ticks = np.arange(np.ceil(clock_first / step_h) * step_h, start_h + last + 1e-9, step_h)
    ax.xaxis.set_major_locator(FixedLocator(ticks - start_h))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock_time(hyp.start, x * 3600)))


def clock_time(start: datetime | None, seconds: float, with_seconds: bool = False) -> str:
    """``HH:MM`` of ``seconds`` after ``start``, or elapsed ``h:mm`` without a start.

    Examples
    --------
    >>> clock_time(datetime(2026, 1, 1, 23, 30), 5400)
    '01:00'
    >>> clock_time(None, 5400)
    '1:30'
    """
    if start is None:
        return _elapsed(seconds / 3600)
    moment = start + timedelta(seconds=round(seconds))
    return moment.strftime("%H:%M:%S" if with_seconds else "%H:%M")


def write_hypnogram_png(path: str | Path, hyp: Hypnogram, dpi: int = 150) -> Path:
    """Write the hypnogram (and its confidence strip, if any) as a PNG, atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "night.png"
    >>> hyp = Hypnogram.from_names(["W", "N1", "N2", "N3", "N2", "REM", "W"])
    >>> write_hypnogram_png(out, hyp).read_bytes()[:4]
    b'\\x89PNG'
    """
    has_confidence = hyp.probabilities is not None
    with report_style():
        fig = Figure(figsize=(11, 3.4 if has_confidence else 2.8), dpi=dpi, layout="constrained")
        if has_confidence:
            top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
            draw_hypnogram(top, hyp)
            draw_confidence(bottom, hyp)
            bottom.set_ylabel("confidence", fontsize=7)
            top.tick_params(labelbottom=False)
        else:
            draw_hypnogram(fig.add_subplot(), hyp)
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    return path


def _no_data_runs(hyp: Hypnogram) -> list[tuple[float, float]]:
    """``(first, stop)`` hours of each run of epochs whose reason is "no data"."""
    if hyp.reasons is None:
        return []
    gap = np.array([reason == NO_DATA_REASON for reason in hyp.reasons] + [False])
    edges = np.flatnonzero(np.diff(np.concatenate([[False], gap]).astype(np.int8)))
    hours = _epoch_edges_h(hyp)
    return [(hours[a], hours[b]) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _epoch_edges_h(hyp: Hypnogram) -> np.ndarray:
    return (hyp.offset_s + np.arange(len(hyp) + 1) * hyp.epoch_s) / 3600


def _elapsed(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60}:{minutes % 60:02d}"
