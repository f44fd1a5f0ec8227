"""Attention rollout: which signal × 2-s patch the CLS token read, as a relevance map.

:class:`EpochViTGraph` is EpochViT with each block's attention probabilities made explicit, so
that :func:`attention_rollout` (Abnar & Zuidema 2020) can chain them in the same forward pass.
It is the graph exported as ``epoch_vit.*.onnx`` (:mod:`sleepvit.models.export`), whose
``rollout`` output the ONNX backends return, and what the torch backend runs for heatmaps: one
computation, so every backend draws the same map.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn

from sleepvit.models.epoch_vit import EpochViT


def queries_keys_values(block: Block, x: torch.Tensor):
    """Per-head ``q, k, v`` ``[B, heads, N, head_dim]`` of a timm ``Block`` for tokens ``x``.

    The same steps as timm's fused attention up to the score product (q and k normalised, q
    not yet scaled), for the code that needs the attention probabilities as a tensor.
    """
    attn = block.attn
    b, n, _ = x.shape
    qkv = attn.qkv(block.norm1(x)).reshape(b, n, 3, attn.num_heads, attn.head_dim)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    return attn.q_norm(q), attn.k_norm(k), v


def explicit_attention(block: nn.Module, x: torch.Tensor, key_bias: torch.Tensor):
    """One timm ``Block`` with its attention probabilities ``[B, heads, N, N]`` made explicit.

    Same arithmetic as ``block(x, attn_mask=bias)`` in eval mode (checked after every export),
    but the probabilities are a tensor of the graph, so the rollout can read them without a
    second pass. The key mask ``key_bias`` (``[B, N, 1]``: 0 or -1e9 per key) rides along as
    one extra dimension of the query·key product (query 1, key bias) instead of a separate
    broadcast add over every ``N × N`` score: that add took 18 % of the int8 run time, the
    wider product gives most of it back, net 2–3 % faster (measured interleaved, batch 64).
    Softmax, GELU and the norms are the places an integer-only variant would swap.
    """
    attn = block.attn
    b, n, _ = x.shape
    q, k, v = queries_keys_values(block, x)
    q = torch.cat([q * attn.scale, torch.ones_like(q[..., :1])], dim=-1)
    k = torch.cat([k, key_bias.unsqueeze(1).expand(-1, attn.num_heads, -1, -1)], dim=-1)
    probs = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    y = (probs @ v).transpose(1, 2).reshape(b, n, -1)
    x = x + block.ls1(attn.proj(attn.norm(y)))
    x = x + block.ls2(block.mlp(block.norm2(x)))
    return x, probs


def attention_rollout(probabilities: list[torch.Tensor], n_slots: int, n_cols: int) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) of the CLS token over the patch tokens.

    Each layer's head-averaged attention gets the residual path added (``0.5·A + 0.5·I``) and
    the layers are chained from the last back to the input; the CLS row over the patches,
    normalised to sum to 1, is returned as ``[B, n_slots, n_cols]`` — a relevance map over
    signal × time. Absent slots are masked keys in every layer and get exactly 0. Only the
    CLS row is carried (row × matrix per head), never a full head-averaged ``N × N`` matrix.
    """
    last = 0.5 * probabilities[-1][:, :, 0, :].mean(dim=1)  # [B, N]
    row = torch.cat([last[:, :1] + 0.5, last[:, 1:]], dim=1)
    for probs in reversed(probabilities[:-1]):
        through = (row[:, None, None, :] @ probs).mean(dim=1).squeeze(1)  # [B, N]
        row = 0.5 * through + 0.5 * row
    patches = row[:, 1:]
    patches = patches / patches.sum(dim=1, keepdim=True)
    return patches.reshape(-1, n_slots, n_cols)


class EpochViTGraph(nn.Module):
    """The computation exported as ``epoch_vit.*.onnx``: logits, embedding and rollout.

    Also what the torch backend runs for heatmaps, so both backends draw the same map.

    Examples
    --------
    >>> from sleepvit.models.configs import EpochViTConfig
    >>> vit = EpochViT(EpochViTConfig(dim=16, depth=2, heads=2)).eval()
    >>> images = torch.zeros(1, 176, 240, dtype=torch.uint8)
    >>> with torch.no_grad():
    ...     logits, embedding, rollout = EpochViTGraph(vit)(images, torch.ones(1, 11, dtype=bool))
    >>> tuple(rollout.shape), round(float(rollout.sum()), 3)
    ((1, 11, 15), 1.0)
    """

    def __init__(self, model: EpochViT):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, present: torch.Tensor):
        x, bias = self.model._tokens(images, present)
        key_bias = bias[:, 0, 0, :, None]  # [B, 1, 1, N] → [B, N, 1]
        probabilities = []
        for block in self.model.blocks:
            x, probs = explicit_attention(block, x, key_bias)
            probabilities.append(probs)
        logits, embedding = self.model._outputs(x)
        c = self.model.config
        return logits, embedding, attention_rollout(probabilities, c.n_slots, c.n_cols)
