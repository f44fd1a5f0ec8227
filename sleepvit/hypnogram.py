"""The hypnogram: one sleep stage per 30-s epoch, aligned to the recording start.

Stages are stored as small integer codes so that arrays of them are cheap and can be
compared directly with model outputs: ``W=0, N1=1, N2=2, N3=3, REM=4, UNS=-1``.
``UNS`` (unscored, artifact, movement) is excluded from every metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from sleepvit.slots import EPOCH_SECONDS

STAGES: tuple[str, ...] = ("W", "N1", "N2", "N3", "REM")
"""Scored stages in model-output order."""
UNS = -1
STAGE_CODE: dict[str, int] = {name: code for code, name in enumerate(STAGES)} | {"UNS": UNS}


def stage_name(code: int) -> str:
    return "UNS" if code == UNS else STAGES[code]


@dataclass
class Hypnogram:
    """Stages per epoch, with optional per-epoch class probabilities.

    Examples
    --------
    >>> from datetime import datetime
    >>> hyp = Hypnogram.from_names(["W", "N1", "N2", "N2", "REM"], start=datetime(2026, 1, 1, 22))
    >>> hyp.names()
    ['W', 'N1', 'N2', 'N2', 'REM']
    >>> hyp.duration_s
    150.0
    """

    stages: np.ndarray
    """int8 codes, shape ``[n_epochs]``."""
    start: datetime | None = None
    probabilities: np.ndarray | None = None
    """float32 ``[n_epochs, 5]`` in :data:`STAGES` order, or ``None`` for a human scoring."""
    epoch_s: float = EPOCH_SECONDS
    offset_s: float = 0.0
    """Onset of epoch 0 relative to the recording start."""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stages = np.asarray(self.stages, dtype=np.int8)
        if self.stages.ndim != 1:
            raise ValueError("stages must be one-dimensional")
        if self.stages.size and (self.stages.min() < UNS or self.stages.max() >= len(STAGES)):
            raise ValueError(f"stage codes must lie in [{UNS}, {len(STAGES) - 1}]")
        if self.probabilities is not None:
            self.probabilities = np.asarray(self.probabilities, dtype=np.float32)
            if self.probabilities.shape != (self.stages.size, len(STAGES)):
                raise ValueError(
                    f"probabilities must have shape ({self.stages.size}, {len(STAGES)}), "
                    f"got {self.probabilities.shape}"
                )

    @classmethod
    def from_names(cls, names, **kwargs) -> Hypnogram:
        return cls(np.array([STAGE_CODE[n] for n in names], dtype=np.int8), **kwargs)

    def __len__(self) -> int:
        return int(self.stages.size)

    def names(self) -> list[str]:
        return [stage_name(int(c)) for c in self.stages]

    @property
    def duration_s(self) -> float:
        return len(self) * self.epoch_s

    @property
    def onsets_s(self) -> np.ndarray:
        return self.offset_s + np.arange(len(self)) * self.epoch_s

    @property
    def confidence(self) -> np.ndarray | None:
        """Probability of the chosen stage per epoch, if probabilities are known."""
        if self.probabilities is None:
            return None
        return self.probabilities.max(axis=1)
