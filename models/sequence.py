"""SequenceTransformer: reads the neighbouring epochs, as technicians do.

A technician scoring epoch *i* looks at the epochs around it (an arousal ends N2, REM
persists, N1 follows wake). This transformer reads L consecutive EpochViT embeddings and
predicts a stage for every position; a night is scored with stride-1 sliding windows whose
probabilities are averaged, so each epoch is judged in up to L different contexts.
"""

from __future__ import annotations

import numpy as np
import torch
from timm.models.vision_transformer import Block
from torch import nn

from sleepvit.models.backends import WINDOW_BATCH, window_probabilities
from sleepvit.models.configs import SequenceConfig
from sleepvit.models.epoch_vit import init_transformer_weights, key_padding_bias


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
def sequence_probabilities(
    model: SequenceTransformer,
    embeddings,
    temperature: float = 1.0,
    batch_size: int = WINDOW_BATCH,
) -> torch.Tensor:
    """Stage probabilities ``[N, n_classes]`` of a whole night from its epoch embeddings ``[N, D]``.

    What :meth:`sleepvit.models.backends.Backend.sequence_probabilities` gives for a weights
    folder, here for a torch model in training: the model run through
    :func:`sleepvit.models.backends.window_probabilities`, the scoring every backend uses.
    Each stride-1 window of ``context`` epochs is scored (the night padded by ``context // 2``
    masked positions at each end, so the first and last epochs are seen in several windows
    and a night shorter than one window works), logits are divided by ``temperature``
    (calibration) before softmax, and each epoch's probability is the mean over the windows
    that contain it. Runs in eval mode; the model's training mode is restored
    afterwards. The result is on the CPU.

    Examples
    --------
    >>> import torch
    >>> model = SequenceTransformer(SequenceConfig(embed_dim=8, dim=16, depth=1, heads=2))
    >>> probs = sequence_probabilities(model, torch.randn(5, 8))
    >>> tuple(probs.shape), bool(torch.allclose(probs.sum(1), torch.ones(5)))
    ((5, 5), True)
    """
    device = next(model.parameters()).device

    def run_windows(windows: np.ndarray, valid: np.ndarray) -> np.ndarray:
        # A copy: a single window can come as a read-only view of the padded night.
        logits = model(torch.tensor(windows, device=device), torch.tensor(valid, device=device))
        return logits.cpu().numpy()

    embeddings = torch.as_tensor(embeddings, dtype=torch.float32).cpu().numpy()
    c = model.config
    was_training = model.training
    model.eval()
    try:
        probs = window_probabilities(
            run_windows, embeddings, c.context, c.n_classes, temperature, batch_size
        )
    finally:
        model.train(was_training)
    return torch.from_numpy(probs)
