"""What ``sleepvit calibrate`` fitted for a weights folder: ``uncertainty.json``.

Confidence is only worth reviewing by when it is honest on recordings the model was not made
from, so the temperatures are fitted on *calibration nights*: scored nights that are neither
training nor test nights, ideally recorded otherwise than the training nights (other gains,
derivations, labs). The same step sets the out-of-distribution thresholds
(:mod:`sleepvit.models.ood`). Every number here belongs to one set of weights: when the weights
change, ``sleepvit calibrate`` must run again (``sleepvit train`` does not know the calibration
nights). Without the file a weights folder scores as before: the training temperature from
``config.json``, EpochViT alone uncalibrated, and no out-of-distribution verdict.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sleepvit.errors import ModelError
from sleepvit.io.atomic import atomic_open

UNCERTAINTY_FILE = "uncertainty.json"
STAGES_FROM_SEQUENCE = "sequence"
"""The stages of a night come from the SequenceTransformer (each epoch with its neighbours)."""
STAGES_FROM_EPOCH_VIT = "epoch_vit"
"""… or from EpochViT alone (each epoch on its own screen)."""
STAGE_SOURCES = (STAGES_FROM_SEQUENCE, STAGES_FROM_EPOCH_VIT)


@dataclass(frozen=True)
class UncertaintyCalibration:
    """Temperatures and out-of-distribution thresholds fitted on calibration nights.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> fitted = UncertaintyCalibration(1.4, 1.9, 6.5, 11.0, {"nights": 10})
    >>> _ = fitted.save(folder)
    >>> UncertaintyCalibration.load(folder) == fitted
    True
    """

    sequence_temperature: float
    """Divides the sequence model's logits (replaces ``config.json``'s training temperature)."""
    epoch_vit_temperature: float
    """Divides EpochViT's logits when its own probabilities are shown or compared."""
    ood_night_threshold: float
    """A night whose median embedding distance exceeds this is unlike the training data."""
    ood_epoch_threshold: float
    """An epoch farther than this from every training stage is unlike the training data."""
    fitted_on: dict = field(default_factory=dict)
    """Provenance and the measurements on the calibration nights (for the model card)."""
    ood_stages_from: str = STAGES_FROM_EPOCH_VIT
    """Which output stages a night the warning fired on, as ``sleepvit calibrate`` measured it
    on the calibration nights that fired. On such a night the sequence model's context can
    mislead (previous weights on real EEG: κ 0.26 with it, 0.39 without) or help (weights
    trained on one-EEG views: 0.48 with it, 0.41 without), so the weights' own nights decide.
    Files written before the choice was measured keep EpochViT alone."""

    def __post_init__(self) -> None:
        if not (self.sequence_temperature > 0 and self.epoch_vit_temperature > 0):
            raise ValueError("temperatures must be positive")
        if self.ood_stages_from not in STAGE_SOURCES:
            raise ValueError(f"ood_stages_from must be one of {', '.join(STAGE_SOURCES)}")

    def save(self, folder: str | Path) -> Path:
        """Write :data:`UNCERTAINTY_FILE` into the weights ``folder``, atomically."""
        path = Path(folder) / UNCERTAINTY_FILE
        with atomic_open(path, encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=2)
            handle.write("\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> UncertaintyCalibration | None:
        """The calibration of a weights folder, or ``None`` when it was never calibrated."""
        path = Path(folder) / UNCERTAINTY_FILE
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(
                f"unreadable calibration ({exc}); run sleepvit calibrate on the weights "
                "folder again",
                path,
            ) from exc
