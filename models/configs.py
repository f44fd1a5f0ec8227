"""Architecture hyper-parameters of the two models, as plain JSON-serialisable dataclasses.

Kept free of torch so that a weights folder's ``config.json`` can be read (and checked
against the images' :class:`~sleepvit.rendering.config.RenderConfig`) by the torch-free
scoring runtime.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from sleepvit.hypnogram import STAGES
from sleepvit.rendering.config import RenderConfig


def _from_known_keys(cls, data: dict):
    """Build ``cls`` from ``data``, refusing unknown keys (a typo must not pass silently)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    return cls(**data)


@dataclass(frozen=True)
class EpochViTConfig:
    """Geometry and size of :class:`~sleepvit.models.epoch_vit.EpochViT`.

    The geometry fields must match the :class:`RenderConfig` the images were drawn with;
    a patch is one row × ``patch_s`` seconds.

    Examples
    --------
    >>> cfg = EpochViTConfig()
    >>> cfg.height, cfg.width, cfg.patch_px, cfg.n_tokens
    (176, 240, 16, 165)
    >>> wide = EpochViTConfig(px_per_s=32.0)  # a 13-Hz spindle draws as waves, same tokens
    >>> wide.height, wide.width, wide.patch_px, wide.n_tokens
    (176, 960, 64, 165)
    >>> EpochViTConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    n_slots: int = 11
    row_px: int = 16
    px_per_s: float = 8.0
    patch_s: float = 2.0
    epoch_s: float = 30.0
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    drop_path: float = 0.1
    n_classes: int = len(STAGES)

    def __post_init__(self) -> None:
        patch_px = self.px_per_s * self.patch_s
        if patch_px != int(patch_px) or patch_px < 1:
            raise ValueError(
                f"a patch must be a whole number of pixels wide; px_per_s × patch_s = {patch_px}"
            )
        n_cols = self.epoch_s / self.patch_s
        if n_cols != int(n_cols):
            raise ValueError(f"epoch_s ({self.epoch_s}) must be a multiple of patch_s")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")

    @property
    def patch_px(self) -> int:
        """Width of a patch in pixels; its height is one row (``row_px``)."""
        return int(self.px_per_s * self.patch_s)

    @property
    def n_cols(self) -> int:
        """Number of ``patch_s`` columns in an epoch (15 for 30 s / 2 s)."""
        return int(self.epoch_s / self.patch_s)

    @property
    def n_tokens(self) -> int:
        """Patch tokens per epoch image, without the CLS token."""
        return self.n_slots * self.n_cols

    @property
    def height(self) -> int:
        return self.n_slots * self.row_px

    @property
    def width(self) -> int:
        return int(round(self.epoch_s * self.px_per_s))

    @property
    def flops_per_epoch(self) -> int:
        """Floating-point operations (2 per multiply-add) of one forward pass over one epoch.

        Counted from the architecture, not by a profiler, so the figure does not move with a
        library release: the patch projection, per block the q/k/v, output and MLP matrices
        plus the two attention products (q·kᵀ and attention·v), and the head on CLS.
        Normalisation, softmax, GELU and additions are left out (under 2 % here).

        >>> round(EpochViTConfig().flops_per_epoch / 1e9, 3)
        0.241
        """
        tokens = 1 + self.n_tokens
        hidden = int(self.dim * self.mlp_ratio)
        patch = self.n_tokens * self.row_px * self.patch_px * self.dim
        dense = tokens * (4 * self.dim * self.dim + 2 * self.dim * hidden)
        attention = 2 * tokens * tokens * self.dim
        head = self.dim * self.n_classes
        return 2 * (patch + self.depth * (dense + attention) + head)

    @classmethod
    def for_render_config(cls, render_config: RenderConfig, **size) -> EpochViTConfig:
        """The config whose geometry fits images drawn with ``render_config``.

        >>> EpochViTConfig.for_render_config(RenderConfig(), dim=64, heads=2).dim
        64
        """
        return cls(
            n_slots=len(render_config.rows),
            row_px=render_config.row_px,
            px_per_s=render_config.px_per_s,
            epoch_s=render_config.epoch_s,
            **size,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EpochViTConfig:
        return _from_known_keys(cls, data)


@dataclass(frozen=True)
class SequenceConfig:
    """Size of :class:`~sleepvit.models.sequence.SequenceTransformer`.

    ``embed_dim`` is the width of the epoch embeddings it reads (``EpochViTConfig.dim``);
    ``context`` is the number L of consecutive epochs in one window.

    Examples
    --------
    >>> SequenceConfig(embed_dim=128).context
    21
    """

    embed_dim: int = 128
    dim: int = 128
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    context: int = 21
    dropout: float = 0.1
    n_classes: int = len(STAGES)

    def __post_init__(self) -> None:
        if self.context < 1:
            raise ValueError(f"context must be at least 1 epoch, got {self.context}")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SequenceConfig:
        return _from_known_keys(cls, data)
