"""EpochViT: a Vision Transformer that reads one 30-s PSG screen the way a technician does.

A CNN assumes neighbouring rows are related and that a pattern means the same anywhere; on a
PSG screen each row is a different signal. So a patch is exactly one row × 2 s, and its
position is told to the model as *which signal* (learned slot embedding) plus *when* (learned
time embedding). Slots the recording lacks are masked as attention keys in every block, so
their pixels cannot influence the output.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn

from sleepvit.models.configs import EpochViTConfig

_MASKED = -1e9
"""Additive attention bias of an absent key: exp() underflows to exactly 0 in float32, and a
finite value (unlike -inf) keeps the ONNX graph free of NaN corner cases."""


def init_transformer_weights(module: nn.Module) -> None:
    """ViT-style initialisation (truncated normal 0.02, zero bias) for a fresh model."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def key_padding_bias(keep: torch.Tensor) -> torch.Tensor:
    """Additive attention mask ``[B, 1, 1, N]`` from a bool ``keep`` ``[B, N]`` of keys.

    Broadcasts over heads and queries in ``scaled_dot_product_attention`` and exports to ONNX
    without data-dependent control flow.
    """
    return ((~keep).to(torch.float32) * _MASKED)[:, None, None, :]


class EpochViT(nn.Module):
    """Signal-axis-aware ViT over one epoch image: 5-class logits and a CLS embedding.

    Token ``1 + s·n_cols + t`` is slot ``s`` at column ``t``; token 0 is CLS.

    Examples
    --------
    >>> import torch
    >>> cfg = EpochViTConfig(dim=32, depth=1, heads=2)
    >>> model = EpochViT(cfg).eval()
    >>> images = torch.zeros(2, cfg.height, cfg.width, dtype=torch.uint8)
    >>> present = torch.ones(2, cfg.n_slots, dtype=torch.bool)
    >>> logits, embedding = model(images, present)
    >>> tuple(logits.shape), tuple(embedding.shape)
    ((2, 5), (2, 32))
    """

    def __init__(self, config: EpochViTConfig):
        super().__init__()
        self.config = config
        c = config
        patch = (c.row_px, c.patch_px)
        self.patch_embed = nn.Conv2d(1, c.dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        self.slot_embed = nn.Parameter(torch.zeros(c.n_slots, c.dim))
        self.time_embed = nn.Parameter(torch.zeros(c.n_cols, c.dim))
        rates = torch.linspace(0, c.drop_path, c.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(c.dim, c.heads, mlp_ratio=c.mlp_ratio, qkv_bias=True, drop_path=r) for r in rates
        )
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.n_classes)
        for p in (self.cls_token, self.slot_embed, self.time_embed):
            nn.init.trunc_normal_(p, std=0.02)
        self.apply(init_transformer_weights)

    def _tokens(self, images: torch.Tensor, present: torch.Tensor):
        """Embedded tokens ``[B, 1 + n_tokens, dim]`` and the key mask bias of absent slots."""
        c = self.config
        x = images.to(torch.float32).unsqueeze(1) / 255.0
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # [B, n_slots·n_cols, dim], row-major
        pos = (self.slot_embed[:, None, :] + self.time_embed[None, :, :]).reshape(-1, c.dim)
        x = x + pos
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        present = present.to(torch.bool).expand(x.shape[0], -1)
        keep_tokens = present.repeat_interleave(c.n_cols, dim=1)
        keep = torch.cat([torch.ones_like(keep_tokens[:, :1]), keep_tokens], dim=1)
        return x, key_padding_bias(keep)

    def _outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.norm(x[:, 0])
        return self.head(embedding), embedding

    def forward(
        self, images: torch.Tensor, present: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[B, n_classes]`` and CLS embedding ``[B, dim]``.

        ``images``: uint8 (or float on the same 0–255 scale) ``[B, H, W]``; ``present``: bool
        ``[B, n_slots]`` or ``[n_slots]`` (one montage for the whole batch).
        """
        x, bias = self._tokens(images, present)
        for block in self.blocks:
            x = block(x, attn_mask=bias)
        return self._outputs(x)

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


@torch.no_grad()
def embed_epochs(
    model: EpochViT, images, present, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[N, n_classes]`` and embeddings ``[N, dim]`` of a night's epoch images.

    Batched inference in eval mode (the model's training mode is restored afterwards);
    accepts numpy arrays or tensors.

    Examples
    --------
    >>> import numpy as np
    >>> model = EpochViT(EpochViTConfig(dim=16, depth=1, heads=2))
    >>> images = np.zeros((3, 176, 240), np.uint8)
    >>> logits, emb = embed_epochs(model, images, np.ones(11, bool), batch_size=2)
    >>> tuple(emb.shape)
    (3, 16)
    """
    device = next(model.parameters()).device
    images = torch.as_tensor(images)
    present = torch.as_tensor(present, dtype=torch.bool).to(device)
    if present.ndim == 1:
        present = present.expand(images.shape[0], -1)
    was_training = model.training
    model.eval()
    try:
        outputs = [
            model(images[i : i + batch_size].to(device), present[i : i + batch_size])
            for i in range(0, images.shape[0], batch_size)
        ]
    finally:
        model.train(was_training)
    if not outputs:
        c = model.config
        return torch.zeros(0, c.n_classes, device=device), torch.zeros(0, c.dim, device=device)
    return torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])
