"""The options of a training run, torch-free so the CLI can show their defaults instantly."""

from __future__ import annotations

from dataclasses import dataclass, fields

from sleepvit.models.configs import EpochViTConfig, SequenceConfig


@dataclass(frozen=True)
class TrainConfig:
    """Every choice a training run makes; saved in the run folder and the model card."""

    name: str = "sleepvit"
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.0
    trim_wake_minutes: float | None = None
    """Keep only this much wake before sleep onset and after final awakening (Sleep-EDF's
    long recorded days would otherwise swamp the night); ``None`` keeps everything."""
    class_balance: float = 0.5
    """Stage weights ∝ count^-balance: 0 = as scored, 1 = every stage equally often."""
    vit_dim: int = EpochViTConfig.dim
    vit_depth: int = EpochViTConfig.depth
    vit_heads: int = EpochViTConfig.heads
    passes: int = 8
    """EpochViT passes over the training data (a pass draws ``samples_per_pass`` images)."""
    samples_per_pass: int = 0
    """Epoch images drawn (with the stage weights) per pass; 0 = as many as there are."""
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    augment: bool = True
    context: int = SequenceConfig.context
    sequence_passes: int = 6
    seq_batch_size: int = 32
    seq_lr: float = 5e-4

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# Options that may change on --resume (to extend or shorten a run); everything else defines
# the model and data and must match the checkpoint.
RESUMABLE_CHANGES = {"passes", "sequence_passes"}
