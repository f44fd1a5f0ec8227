"""The technician's explanation screen of one epoch (``sleepvit explain``), 1920 × 1080.

The epoch is drawn by the project's renderer at screen resolution (the same code path as the
model's input, :class:`~sleepvit.rendering.render.EpochRenderer`), dark traces on white as on a
PSG review station, with the relevance grid laid over it cell by cell (one cell per signal ×
2-s patch, the model's own tokens). Beside each row its share of the relevance; under the
traces the per-second profile; at the bottom the neighbour strip (which epochs around it moved
the sequence model's decision) and the stage probabilities, alone and in context.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from sleepvit.explain.neighbours import NeighbourRelevance
from sleepvit.explain.night import NightExplanation
from sleepvit.explain.relevance import EpochRelevance
from sleepvit.hypnogram import STAGES, stage_name
from sleepvit.io.atomic import atomic_path
from sleepvit.rendering.config import RenderConfig
from sleepvit.rendering.render import EpochRenderer

SCREEN_PX = (1920, 1080)
"""Width and height of the picture: a technician's screen."""
TRACE_PX = (1400, 620)
"""The signal area: 30 s at 46.7 px/s, 11 rows of 56 px with the default montage."""
METHOD_NAMES = {
    "rollout": "attention rollout",
    "gradient": "gradient-weighted attention (Chefer et al. 2021)",
    "ig": "Integrated Gradients",
    "occlusion": "occlusion of each signal × 2-s patch",
}
_HEAT = colormaps["YlOrRd"]
_INK, _MUTED, _SUPPORT, _AGAINST = "#1A1A1A", "#666666", "#2B6CB0", "#C53030"


def write_explanation_figure(
    path: str | Path,
    study,
    render_config: RenderConfig,
    night: NightExplanation,
    epoch: int,
    relevance: EpochRelevance,
    neighbours: NeighbourRelevance | None,
) -> Path:
    """Draw the explanation of ``epoch`` (from 0) to ``path`` (PNG), atomically.

    ``render_config``: the model's (the screen is the same drawing at 1920 px);
    ``night``: the night's scores and queue; ``relevance``: the grid shown (any method).
    """
    width, height = SCREEN_PX
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    screen_config = render_config.with_size(*TRACE_PX)
    rendered = EpochRenderer(study, screen_config, antialias=True).render([epoch])
    left, bottom_traces = 0.105, 0.325
    trace_w, trace_h = TRACE_PX[0] / width, rendered.images.shape[1] / height
    traces = fig.add_axes((left, bottom_traces, trace_w, trace_h))
    _draw_traces(traces, rendered, relevance)
    bars = fig.add_axes((left + trace_w + 0.012, bottom_traces, 0.13, trace_h))
    _draw_signal_bars(bars, relevance, rendered.rows)
    profile = fig.add_axes((left, bottom_traces - 0.075, trace_w, 0.05))
    _draw_profile(profile, relevance)
    if neighbours is not None:
        strip = fig.add_axes((left, 0.05, 0.5, 0.105))
        _draw_neighbours(strip, neighbours, night.stages)
    stages = fig.add_axes((left + 0.62, 0.05, 0.25, 0.105))
    _draw_probabilities(stages, night, epoch)
    _draw_title(fig, study, night, epoch, relevance)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, facecolor="white")
    return path


def _draw_traces(ax, rendered, relevance: EpochRelevance) -> None:
    image = 255 - rendered.images[0]  # dark traces on white, as on a review station
    height, width = image.shape
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, aspect="auto", extent=(0, 30, height, 0))
    peak = float(relevance.grid.max())
    epoch_s = relevance.epoch_s
    if peak > 0:
        colours = _HEAT(relevance.grid / peak)
        colours[..., 3] = 0.55 * relevance.grid / peak
        row_px = height / len(relevance.slots)
        ax.imshow(colours, aspect="auto", extent=(0, epoch_s, len(relevance.slots) * row_px, 0))
    for column in range(1, relevance.n_cols):
        ax.axvline(column * relevance.column_s, color="#D0D0D0", lw=0.5, zorder=0.5)
    for row in rendered.rows[1:]:
        ax.axhline(row.top, color="#E2E2E2", lw=0.6)
    ax.set_xlim(0, epoch_s)
    ax.set_ylim(height, 0)
    ax.set_xticks(np.arange(0, epoch_s + 0.1, 2 * relevance.column_s))
    ax.tick_params(labelsize=9, colors=_MUTED, labelbottom=False)
    ax.set_yticks([row.top + row.height / 2 for row in rendered.rows])
    ax.set_yticklabels(
        [
            f"{row.slot}\n{row.label}" if row.present else f"{row.slot}\n(absent)"
            for row in rendered.rows
        ],
        fontsize=9,
    )
    for spine in ax.spines.values():
        spine.set_color("#B8B8B8")


def _draw_signal_bars(ax, relevance: EpochRelevance, rows) -> None:
    shares = relevance.grid.sum(axis=1)
    positions = np.arange(len(shares))
    top = int(shares.argmax())
    ax.barh(
        positions,
        shares,
        height=0.6,
        color=[_HEAT(0.85) if i == top else _HEAT(0.45) for i in positions],
    )
    for i, (share, row) in enumerate(zip(shares, rows, strict=True)):
        if row.present:
            ax.text(share + 0.01, i, f"{100 * share:.0f} %", va="center", fontsize=9, color=_INK)
    ax.set_ylim(len(shares) - 0.5, -0.5)
    ax.set_xlim(0, max(0.05, 1.35 * float(shares.max())))
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_title("relevance per signal", fontsize=10, color=_MUTED, loc="left")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)


def _draw_profile(ax, relevance: EpochRelevance) -> None:
    profile = relevance.per_second()
    ax.bar(np.arange(len(profile)) + 0.5, profile, width=0.9, color=_HEAT(0.6))
    ax.set_xlim(0, relevance.epoch_s)
    ax.set_xticks(np.arange(0, relevance.epoch_s + 0.1, 2 * relevance.column_s))
    ax.set_yticks([])
    ax.tick_params(labelsize=9, colors=_MUTED)
    ax.text(
        0.0,
        1.06,
        "relevance per second (s into the epoch)",
        transform=ax.transAxes,
        fontsize=9,
        color=_MUTED,
    )
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _draw_neighbours(ax, neighbours: NeighbourRelevance, stages: np.ndarray, reach: int = 10):
    deltas = neighbours.by_offset(reach, log_odds=True)
    offsets = np.arange(-reach, reach + 1)
    colours = [_SUPPORT if d >= 0 else _AGAINST for d in deltas]
    ax.bar(offsets, deltas, width=0.7, color=colours)
    ax.axhline(0, color=_MUTED, lw=0.6)
    labels = []
    for d in offsets:
        e = neighbours.epoch + int(d)
        stage = stage_name(int(stages[e])) if 0 <= e < len(stages) else ""
        labels.append("this" if d == 0 else f"{d:+d}\n{stage}")
    ax.set_xticks(offsets)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_xlim(-reach - 0.6, reach + 0.6)
    limit = max(0.1, 1.2 * float(np.abs(deltas).max()))
    ax.set_ylim(-limit, limit)
    ax.tick_params(labelsize=8, colors=_MUTED)
    ax.set_title(
        f"neighbour relevance: change of the log-odds of {STAGES[neighbours.stage]} when an "
        "epoch is left out of the context (blue: it supported the stage)",
        fontsize=10,
        color=_MUTED,
        loc="left",
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_probabilities(ax, night: NightExplanation, epoch: int) -> None:
    positions = np.arange(len(STAGES))
    ax.barh(
        positions - 0.18, night.epoch_vit[epoch], height=0.34, color="#A0AEC0", label="screen alone"
    )
    ax.barh(
        positions + 0.18, night.sequence[epoch], height=0.34, color="#1F3B63", label="with context"
    )
    ax.set_yticks(positions)
    ax.set_yticklabels(STAGES, fontsize=9)
    ax.set_ylim(len(STAGES) - 0.4, -0.6)
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=8, colors=_MUTED)
    ax.legend(fontsize=8, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2)
    ax.set_title("stage probabilities", fontsize=10, color=_MUTED, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_title(fig, study, night: NightExplanation, epoch: int, relevance: EpochRelevance):
    onset = study.start + timedelta(seconds=epoch * relevance.epoch_s)
    stage = int(night.stages[epoch])
    scored = stage_name(stage)
    confidence = night.sequence[epoch, stage] if stage >= 0 else float("nan")
    alone = int(night.epoch_vit[epoch].argmax())
    alone_p = night.epoch_vit[epoch, alone]
    fig.text(
        0.105,
        0.955,
        f"Epoch {epoch + 1}  ·  {onset:%H:%M:%S}  ·  scored {scored} "
        f"({confidence:.2f})  ·  screen alone {STAGES[alone]} ({alone_p:.2f})",
        fontsize=17,
        color=_INK,
        weight="bold",
    )
    why = night.queue.why(epoch)
    queue = f"in the review queue: {', '.join(why)}" if why else "not in the review queue"
    slot, column = relevance.top_cell
    start, end = column * relevance.column_s, (column + 1) * relevance.column_s
    strongest = (
        f"strongest: {slot} {start:g}–{end:g} s"
        if relevance.grid.max() > 0
        else ("not scored: no map")
    )
    fig.text(
        0.105,
        0.925,
        f"{Path(study.path).name}  ·  where the model looked: {METHOD_NAMES[relevance.method]}  ·  "
        f"{strongest}  ·  {queue}",
        fontsize=11,
        color=_MUTED,
    )
