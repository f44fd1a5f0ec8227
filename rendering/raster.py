"""Vectorised trace rasteriser: display samples → lit pixels of one row, column by column.

A PSG screen draws a trace as connected line segments. With many samples per pixel column
that is the same as lighting, in each column, every pixel between the lowest and highest
point the polyline reaches there: the column's own samples plus half of the segments that
join it to its neighbours. A 13-Hz spindle then fills a thick band, a 1-Hz slow wave stays a
thin line, and no Python loop touches a pixel. Values are mapped with the row's fixed physical
range (never rescaled per epoch: amplitude is diagnostic) and clipped at the row's edges.
"""

from __future__ import annotations

import numpy as np

ENVELOPE_PEAK_FACTOR = 2.0
"""An RMS envelope ``r`` is drawn as the band ``±2·r``: about how far a raw chin EMG of that
RMS reaches within one pixel column of the model image, so envelope and raw chin EMG look
alike."""


def column_extents(
    trace: np.ndarray, n_columns: int, samples_per_column: int, envelope: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest value the drawn polyline reaches in each pixel column.

    ``trace`` (``[..., n]``, e.g. one line per epoch) holds ``n_columns · samples_per_column``
    display samples plus one neighbour sample on each side (NaN where there is none), so joins
    across epoch boundaries are drawn exactly as inside an epoch. Returns ``[..., n_columns]``
    arrays; columns without any signal come out NaN.

    Examples
    --------
    >>> import numpy as np
    >>> lo, hi = column_extents(np.array([0.0, 0, 2, 4, 6, 6]), 2, 2)
    >>> lo.tolist(), hi.tolist()
    ([0.0, 3.0], [3.0, 6.0])
    """
    expected = n_columns * samples_per_column + 2
    if trace.shape[-1] != expected:
        raise ValueError(
            f"trace has {trace.shape[-1]} samples, expected {n_columns}·{samples_per_column} + 2 "
            f"= {expected}"
        )
    columns = trace[..., 1:-1].reshape(*trace.shape[:-1], n_columns, samples_per_column)
    # Samples-within-column as the leading, contiguous axis: numpy reduces across it with
    # whole-array vector operations, far faster than over a short trailing axis.
    stacked = np.ascontiguousarray(np.moveaxis(columns, -1, 0))
    if envelope:
        peak = ENVELOPE_PEAK_FACTOR * np.abs(stacked).max(axis=0)
        return -peak, peak
    lowest, highest = stacked.min(axis=0), stacked.max(axis=0)
    missing = np.isnan(lowest)  # min propagates NaN: a column lacking any of its samples
    # Half of each joining segment belongs to this column: its end is the midpoint.
    join_before = (trace[..., :-2:samples_per_column] + stacked[0]) / 2
    join_after = (stacked[-1] + trace[..., 1 + samples_per_column :: samples_per_column]) / 2
    # fmin/fmax skip missing neighbours; a column without its own samples stays blank.
    lowest = np.fmin(lowest, np.fmin(join_before, join_after))
    highest = np.fmax(highest, np.fmax(join_before, join_after))
    lowest[missing] = np.nan
    highest[missing] = np.nan
    return lowest, highest


def value_to_row(
    values: np.ndarray, value_range: tuple[float, float], row_px: int, negative_up: bool
) -> np.ndarray:
    """Physical values → fractional pixel rows inside a row (0 = top, ``row_px − 1`` = bottom).

    ``value_range`` is ``(bottom, top)`` as in :class:`~sleepvit.rendering.RowStyle`; with
    ``negative_up`` the row is flipped (clinical EEG convention). Not clipped.

    Examples
    --------
    >>> import numpy as np
    >>> value_to_row(np.array([-75.0, 0.0, 75.0]), (-75.0, 75.0), 16, negative_up=True).tolist()
    [0.0, 7.5, 15.0]
    """
    bottom, top = value_range
    scale = (row_px - 1) / (top - bottom)
    if negative_up:
        return (values - bottom) * scale
    return (top - values) * scale


def draw_spans(
    first_row: np.ndarray,
    last_row: np.ndarray,
    row_px: int,
    antialias: bool,
    background: int,
    trace: int,
) -> np.ndarray:
    """uint8 pixels ``[..., row_px, n_columns]`` lighting ``first_row … last_row`` per column.

    Spans are clipped to the row, so a trace beyond the range runs along the row's edge.
    Without anti-aliasing a pixel is lit when its centre lies in the rounded span; with it, a
    pixel's level is the fraction of the pixel the (one pixel thick) span covers.

    Examples
    --------
    >>> import numpy as np
    >>> draw_spans(np.array([1.0]), np.array([2.0]), 4, False, 0, 255)[:, 0].tolist()
    [0, 255, 255, 0]
    >>> draw_spans(np.array([1.5]), np.array([1.5]), 4, True, 0, 200)[:, 0].tolist()
    [0, 100, 100, 0]
    """
    top = np.clip(np.minimum(first_row, last_row), 0, row_px - 1)[..., None, :]
    bottom = np.clip(np.maximum(first_row, last_row), 0, row_px - 1)[..., None, :]
    rows = np.arange(row_px, dtype=np.float32)[:, None]
    if antialias:
        with np.errstate(invalid="ignore"):
            coverage = np.minimum(rows, bottom) - np.maximum(rows, top) + 1
            coverage = np.nan_to_num(np.clip(coverage, 0, 1))
        return np.rint(background + coverage * (trace - background)).astype(np.uint8)
    with np.errstate(invalid="ignore"):
        lit = (rows >= np.rint(top)) & (rows <= np.rint(bottom))
    return np.where(lit, np.uint8(trace), np.uint8(background))
