"""SequenceTransformer: reads the neighbouring epochs, as technicians do.

A technician scoring epoch *i* looks at the epochs around it (an arousal ends N2, REM
persists, N1 follows wake). This transformer reads L consecutive EpochViT embeddings and
predicts a stage for every position; a night is scored with stride-1 sliding windows whose
probabilities are averaged, so each epoch is judged in up to L different contexts.
"""

from __future__ import annotations

import torch
from sleepvit.models.configs import SequenceConfig
from sleepvit.models.epoch_vit import init_transformer_weights, key_padding_bias
from timm.models.vision_transformer import Block
from torch import nn


class SequenceTransformer(nn.Module):
    """Transformer encoder over ``[B, L, embed_dim]`` epoch embeddings → ``[B, L, 5]`` logits.

    Examples
    --------
    >>> import torch
    >>> model = SequenceTransformer(SequenceConfig(embed_dim=8, dim=16, depth=1, heads=2)).eval()
    >>> tuple(model(torch.zeros(3, 21, 8)).shape)
    (3, 21, 5)
    """

    def __init__(self, config: SequenceConfig):
        super().__init__()
        self.config = config
        c = config
        self.input_proj = nn.Sequential(nn.LayerNorm(c.embed_dim), nn.Linear(c.embed_dim, c.dim))
        self.position_embed = nn.Parameter(torch.zeros(1, c.context, c.dim))
        self.blocks = nn.ModuleList(
            Block(
                c.dim,
                c.heads,
                mlp_ratio=c.mlp_ratio,
                qkv_bias=True,
                proj_drop=c.dropout,
                attn_drop=c.dropout,
            )
            for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.n_classes)
        nn.init.trunc_normal_(self.position_embed, std=0.02)
        self.apply(init_transformer_weights)

    def forward(self, embeddings: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, L, n_classes]`` for embeddings ``[B, L, embed_dim]``, L ≤ ``context``.

        ``valid`` (bool ``[B, L]``) marks real epochs; invalid positions (padding beyond the
        night's ends) are masked as attention keys, and their own outputs are meaningless.
        """
        length = embeddings.shape[1]
        if length > self.config.context:
            raise ValueError(f"window of {length} epochs exceeds context {self.config.context}")
        x = self.input_proj(embeddings) + self.position_embed[:, :length]
        bias = None if valid is None else key_padding_bias(valid.to(torch.bool))
        for block in self.blocks:
            x = block(x, attn_mask=bias)
        return self.head(self.norm(x))

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


@torch.no_grad()
def score_night(
    model: SequenceTransformer,
    embeddings,
    temperature: float = 1.0,
    batch_size: int = 256,
) -> torch.Tensor:
    """Stage probabilities ``[N, n_classes]`` of a whole night from its epoch embeddings ``[N, D]``.

    Every stride-1 window of ``context`` epochs is scored; each epoch's probability is the mean
    over the windows that contain it. The night is padded by ``context // 2`` masked positions at
    each end, so the first and last epochs are also seen in several windows, and a night shorter
    than one window works. Logits are divided by ``temperature`` (calibration) before softmax.
    Runs in eval mode; the model's training mode is restored afterwards.

    Examples
    --------
    >>> import torch
    >>> model = SequenceTransformer(SequenceConfig(embed_dim=8, dim=16, depth=1, heads=2))
    >>> probs = score_night(model, torch.randn(5, 8))
    >>> tuple(probs.shape), bool(torch.allclose(probs.sum(1), torch.ones(5)))
    ((5, 5), True)
    """
    device = next(model.parameters()).device
    embeddings = torch.as_tensor(embeddings, dtype=torch.float32).to(device)
    n_epochs, width = embeddings.shape
    context = model.config.context
    n_classes = model.config.n_classes
    if n_epochs == 0:
        return torch.zeros(0, n_classes, device=device)
    pad = context // 2
    n_windows = n_epochs + 2 * pad - context + 1
    padded = torch.zeros(n_epochs + 2 * pad, width, device=device)
    padded[pad : pad + n_epochs] = embeddings
    is_real = torch.zeros(n_epochs + 2 * pad, dtype=torch.bool, device=device)
    is_real[pad : pad + n_epochs] = True
    # unfold gives [n_windows, width, context]: one row per window start, no copy yet.
    windows = padded.unfold(0, context, 1).transpose(1, 2)
    valid = is_real.unfold(0, context, 1)

    was_training = model.training
    model.eval()
    try:
        probs = torch.cat(
            [
                (
                    model(windows[i : i + batch_size], valid[i : i + batch_size]) / temperature
                ).softmax(dim=-1)
                for i in range(0, n_windows, batch_size)
            ]
        )
    finally:
        model.train(was_training)

    # Position p of window j is padded epoch j + p; sum every window's vote into that slot.
    target = (torch.arange(n_windows)[:, None] + torch.arange(context)[None, :]).to(device)
    total = torch.zeros(n_epochs + 2 * pad, n_classes, device=device)
    total.index_add_(0, target.reshape(-1), probs.reshape(-1, n_classes))
    votes = torch.zeros(n_epochs + 2 * pad, device=device)
    votes.index_add_(0, target.reshape(-1), torch.ones(target.numel(), device=device))
    return total[pad : pad + n_epochs] / votes[pad : pad + n_epochs, None]
