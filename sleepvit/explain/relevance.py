"""Where the model looked in one epoch: a relevance grid over signal × 2-s column.

A grid has one row per slot of the model's render config and one column per patch (``n_cols``
columns of ``patch_s`` seconds, 15 × 2 s with the default geometry, taken from the weights'
config, never assumed). :func:`relevance` makes grids with any backend from the attention
rollout that EpochViT's graph outputs beside its logits — no torch needed — or, with torch and
captum installed, from Integrated Gradients or Occlusion (:mod:`sleepvit.explain.attributions`).
:class:`EpochRelevance` reads one grid the ways a technician asks: which signal, which seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sleepvit.rendering.config import RenderConfig

METHODS: tuple[str, ...] = ("rollout", "gradient", "ig", "occlusion")
"""``rollout``: attention rollout (Abnar & Zuidema 2020), output by the scoring graph itself, so
a night's grids cost almost nothing; ``gradient``: gradient-weighted attention of the stage
chosen (Chefer et al. 2021), from ``epoch_vit_relevance.fp32.onnx``, torch-free too;
``ig``: Integrated Gradients; ``occlusion``: each signal × 2-s patch flattened in turn (both
captum, need the ``train`` extra)."""


def normalised(grids: np.ndarray) -> np.ndarray:
    """Non-negative grids ``[..., slots, cols]`` scaled to sum to 1 each (all-zero stays 0).

    Negative evidence (a patch that argued against the stage) is left out: the map shows
    what the decision rested on.

    >>> normalised(np.array([[[1.0, -2.0], [3.0, 0.0]]])).tolist()
    [[[0.25, 0.0], [0.75, 0.0]]]
    """
    grids = np.clip(np.nan_to_num(np.asarray(grids, np.float64)), 0.0, None)
    totals = grids.sum(axis=(-2, -1), keepdims=True)
    return np.divide(grids, totals, out=np.zeros_like(grids), where=totals > 0).astype(np.float32)


def relevance(
    backend,
    images: np.ndarray,
    present: np.ndarray,
    drawn_with: RenderConfig,
    method: str = "rollout",
    target: np.ndarray | int | None = None,
) -> np.ndarray:
    """Relevance grids ``[n, n_slots, n_cols]`` of epoch images, each summing to 1.

    ``backend`` is a loaded :func:`~sleepvit.models.backends.load_backend`; ``images``,
    ``present`` and ``drawn_with`` as for its ``epoch_outputs``. ``rollout`` runs in any
    backend (ONNX Runtime by default) and explains EpochViT's reading as a whole; ``gradient``
    (any backend too) explains the stage EpochViT chose; ``ig`` and ``occlusion`` load the
    weights folder's safetensors in torch and explain the ``target`` stage (default: the stage
    EpochViT chose for each epoch). Absent slots get 0.

    >>> grids = relevance(load_backend(), rendered.images, rendered.present,
    ...                   rendered.config)                               # doctest: +SKIP
    >>> grids.shape, float(grids[0].sum())                               # doctest: +SKIP
    ((960, 11, 15), 1.0)
    """
    if method not in METHODS:
        raise ValueError(f"unknown relevance method {method!r}; choose one of {METHODS}")
    if method == "rollout":
        return normalised(backend.attention(images, present, drawn_with))
    if method == "gradient":
        return normalised(backend.gradient_relevance(images, present, drawn_with))
    from sleepvit.explain.attributions import captum_relevance

    return captum_relevance(backend, images, present, drawn_with, method, target)


@dataclass(frozen=True)
class EpochRelevance:
    """One epoch's relevance grid with the questions a reader asks of it.

    Examples
    --------
    >>> grid = np.zeros((3, 15)); grid[1, 4] = 0.75; grid[0, 4] = 0.25
    >>> r = EpochRelevance(grid, ("EEG_F", "EEG_C", "EOG_L"))
    >>> r.top_signal, r.top_seconds, r.per_signal()["EEG_C"]
    ('EEG_C', (8.0, 10.0), 0.75)
    >>> r.per_second()[7:11].tolist()
    [0.0, 0.5, 0.5, 0.0]
    """

    grid: np.ndarray
    """``[n_slots, n_cols]``, non-negative, summing to 1 (0 everywhere if nothing stood out)."""
    slots: tuple[str, ...]
    epoch_s: float = 30.0
    method: str = "rollout"

    def __post_init__(self) -> None:
        grid = np.asarray(self.grid, np.float32)
        if grid.ndim != 2 or grid.shape[0] != len(self.slots):
            raise ValueError(f"a grid of shape {grid.shape} does not fit {len(self.slots)} slots")
        object.__setattr__(self, "grid", grid)

    @property
    def n_cols(self) -> int:
        return int(self.grid.shape[1])

    @property
    def column_s(self) -> float:
        """Seconds per column (the patch width, 2 s)."""
        return self.epoch_s / self.n_cols

    def per_signal(self) -> dict[str, float]:
        """Relevance of each slot, summed over the epoch's seconds (slot order)."""
        return {slot: float(v) for slot, v in zip(self.slots, self.grid.sum(axis=1), strict=True)}

    def per_second(self) -> np.ndarray:
        """Relevance of each whole second ``[ceil(epoch_s)]``, all signals together.

        A column's relevance is spread evenly over the seconds it spans, so the profile
        sums to the grid's total whatever the column width.
        """
        edges = np.linspace(0.0, self.epoch_s, self.n_cols + 1)
        cumulative = np.concatenate([[0.0], np.cumsum(self.grid.sum(axis=0, dtype=np.float64))])
        seconds = np.minimum(np.arange(int(np.ceil(self.epoch_s)) + 1), self.epoch_s)
        return np.diff(np.interp(seconds, edges, cumulative)).astype(np.float32)

    @property
    def top_signal(self) -> str:
        """The slot with the most relevance."""
        return self.slots[int(self.grid.sum(axis=1).argmax())]

    @property
    def top_cell(self) -> tuple[str, int]:
        """``(slot, column)`` of the single most relevant patch."""
        slot, column = np.unravel_index(int(self.grid.argmax()), self.grid.shape)
        return self.slots[int(slot)], int(column)

    @property
    def top_seconds(self) -> tuple[float, float]:
        """Start and end (s from the epoch onset) of the most relevant patch."""
        column = self.top_cell[1]
        return column * self.column_s, (column + 1) * self.column_s
