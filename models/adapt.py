"""Test-time adaptation of EpochViT to the night being scored (``adapt`` when scoring).

A night from a new lab, amplifier or population is unlabelled data from that domain. Before it
is scored, a copy of EpochViT is adapted to it by entropy minimisation (TENT, Wang et al. 2021)
on its LayerNorm affine parameters only, over the night's own scorable epoch images, keeping
only SAR's *reliable* samples (Niu et al. 2023: entropy below ``0.4·ln 5``), so that epochs
the model cannot read at all do not pull the normalisation towards noise. The night is then
scored with the adapted EpochViT and the unchanged sequence model.

This module is torch-free: it holds the settings and the one door to
:mod:`sleepvit.models.tent`, which needs PyTorch (the ``train`` extra). Without it,
:func:`adapted_backend` raises a one-line :class:`~sleepvit.errors.ModelError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from sleepvit.errors import ModelError
from sleepvit.models.backends import Backend
from sleepvit.rendering.config import RenderConfig

NEEDS_TORCH = (
    "test-time adaptation needs PyTorch, which is not installed; install the train extra "
    "(pip install 'sleepvit[train]') or score without adaptation"
)


@dataclass(frozen=True)
class AdaptSettings:
    """How EpochViT is adapted to a night: TENT on LayerNorm, SAR's reliable-sample filter.

    >>> AdaptSettings().entropy_limit == 0.4 * math.log(5)
    True
    """

    passes: int = 1
    """Passes over the night's scorable epochs (shuffled, one Adam step per batch)."""
    batch_size: int = 64
    learning_rate: float = 1e-3
    """Adam's, as in TENT."""
    reliable_fraction: float = 0.4
    """Samples with entropy above ``reliable_fraction · ln 5`` are left out of the loss
    (SAR's filter); 1 keeps every sample (plain TENT)."""
    seed: int = 0
    """Seeds the shuffling, so a night is always adapted (and scored) the same way."""

    @property
    def entropy_limit(self) -> float:
        return self.reliable_fraction * math.log(5)

    def to_dict(self) -> dict:
        return {"method": "tent-layernorm+sar-filter", **asdict(self)}


def check_adaptation_available() -> None:
    """Raise the one-line :class:`ModelError` of :data:`NEEDS_TORCH` when torch is missing."""
    try:
        import sleepvit.models.tent  # noqa: F401  (the door: opened only to adapt)
    except ImportError as exc:
        raise ModelError(NEEDS_TORCH, settings=("adapt",)) from exc


def adapted_backend(
    scorer: Backend,
    images: np.ndarray,
    present: np.ndarray,
    drawn_with: RenderConfig,
    settings: AdaptSettings,
    check: Callable[[], None] | None = None,
) -> tuple[Backend, dict]:
    """``scorer`` with its EpochViT adapted to a night's scorable ``images`` ``[n, H, W]``.

    ``present`` is bool ``[n, n_slots]`` (or ``[n_slots]``), ``drawn_with`` the images' render
    config (checked as for scoring). ``check()`` is called before every step and may raise
    :class:`~sleepvit.errors.Cancelled`. Returns the adapted backend (EpochViT in torch fp32,
    the sequence model of ``scorer`` unchanged) and what the adaptation did, for the night's
    metadata. Raises :class:`ModelError` naming the ``train`` extra without torch.
    """
    check_adaptation_available()
    from sleepvit.models.tent import adapt_to_night

    return adapt_to_night(scorer, *scorer._checked(images, present, drawn_with), settings, check)
