"""Gradient-weighted attention relevance (Chefer, Gur & Wolf 2021), as a graph ONNX can run.

Attention rollout (:mod:`sleepvit.models.rollout`) says which patches the CLS token read, for
whatever stage; it cannot tell the evidence *for* the stage from the rest. Chefer et al.
("Generic Attention-model Explainability…", ICCV 2021) weight each layer's attention by its
gradient with respect to the chosen stage's logit, keep the positive part, average the heads
(``Ā = E_h[(∇A ⊙ A)⁺]``) and accumulate ``R ← R + Ā·R`` from the identity; the CLS row of
``R`` over the patches is the map.

ONNX Runtime has no autograd, so :class:`GradientRelevanceGraph` computes the gradients by an
explicit backward pass through EpochViT's timm blocks (LayerNorm, GELU MLP, softmax attention)
written as ordinary tensor operations: the graph exports with the same tracer as the scoring
graph and runs torch-free (``epoch_vit_relevance.fp32.onnx``). :func:`autograd_relevance`
computes the same map with torch's autograd; the two are checked against each other at export.
The stage explained is the one EpochViT chooses for each epoch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sleepvit.models.epoch_vit import EpochViT
from sleepvit.models.rollout import explicit_attention, queries_keys_values


def _layer_norm_backward(x: torch.Tensor, grad: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """Gradient with respect to ``x`` of ``norm(x)`` given the gradient ``grad`` of its output."""
    mean = x.mean(dim=-1, keepdim=True)
    centred = x - mean
    inverse_std = torch.rsqrt(centred.pow(2).mean(dim=-1, keepdim=True) + norm.eps)
    normalised = centred * inverse_std
    g = grad * norm.weight
    return inverse_std * (
        g - g.mean(dim=-1, keepdim=True) - normalised * (g * normalised).mean(dim=-1, keepdim=True)
    )


def _gelu_derivative(u: torch.Tensor) -> torch.Tensor:
    """d/du of the exact (erf) GELU: Φ(u) + u·φ(u)."""
    cdf = 0.5 * (1.0 + torch.erf(u / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    return cdf + u * pdf


def check_supported(model: EpochViT) -> None:
    """Refuse blocks whose parts the explicit backward pass does not know.

    EpochViT's timm blocks have identity layer scales and q/k norms and an erf GELU; a model
    built otherwise would get a wrong map, so it gets an error instead.
    """
    for i, block in enumerate(model.blocks):
        parts = {
            "ls1": block.ls1,
            "ls2": block.ls2,
            "attn.q_norm": block.attn.q_norm,
            "attn.k_norm": block.attn.k_norm,
            "attn.norm": block.attn.norm,
            "mlp.norm": block.mlp.norm,
        }
        odd = [name for name, part in parts.items() if not isinstance(part, nn.Identity)]
        act = block.mlp.act
        if not isinstance(act, nn.GELU) or act.approximate != "none":
            odd.append("mlp.act")
        if odd:
            raise ValueError(
                f"block {i} has {', '.join(odd)} that gradient relevance cannot follow"
            )


def _accumulate(weighted: list[torch.Tensor], n_slots: int, n_cols: int) -> torch.Tensor:
    """CLS row of ``R = (I + Ā_L)…(I + Ā_1)`` over the patches, normalised: ``[B, slots, cols]``."""
    row = torch.zeros_like(weighted[0][:, 0, :])
    row[:, 0] = 1.0
    for attention in reversed(weighted):
        row = row + (row.unsqueeze(1) @ attention).squeeze(1)
    patches = row[:, 1:]
    total = patches.sum(dim=1, keepdim=True)
    patches = torch.where(total > 0, patches / total.clamp(min=1e-12), torch.zeros_like(patches))
    return patches.reshape(-1, n_slots, n_cols)


class GradientRelevanceGraph(nn.Module):
    """EpochViT's logits and the gradient-weighted relevance of the stage it chose.

    Examples
    --------
    >>> from sleepvit.models.configs import EpochViTConfig
    >>> vit = EpochViT(EpochViTConfig(dim=16, depth=2, heads=2)).eval()
    >>> images = torch.randint(0, 255, (2, 176, 240), dtype=torch.uint8)
    >>> present = torch.ones(2, 11, dtype=torch.bool)
    >>> with torch.no_grad():
    ...     logits, grid = GradientRelevanceGraph(vit)(images, present)
    >>> tuple(grid.shape), bool(torch.allclose(grid, autograd_relevance(vit, images, present),
    ...                                        atol=1e-5))
    ((2, 11, 15), True)
    """

    def __init__(self, model: EpochViT):
        super().__init__()
        check_supported(model)
        self.model = model

    def forward(self, images: torch.Tensor, present: torch.Tensor):
        model, c = self.model, self.model.config
        x, bias = model._tokens(images, present)
        saved = []
        for block in model.blocks:
            attn = block.attn
            q, k, v = queries_keys_values(block, x)
            q = q * attn.scale
            probs = (q @ k.transpose(-2, -1) + bias).softmax(dim=-1)
            b, n, _ = x.shape
            y = (probs @ v).transpose(1, 2).reshape(b, n, -1)
            mid = x + attn.proj(y)
            hidden = block.mlp.fc1(block.norm2(mid))
            out = mid + block.mlp.fc2(block.mlp.act(hidden))
            saved.append((x, q, k, v, probs, mid, hidden))
            x = out
        logits, _ = model._outputs(x)
        target = logits.argmax(dim=1)
        grad = torch.zeros_like(x)
        cls_grad = _layer_norm_backward(x[:, 0], model.head.weight[target], model.norm)
        grad = torch.cat([cls_grad.unsqueeze(1), grad[:, 1:]], dim=1)
        weighted = []
        for block, (inputs, q, k, v, probs, mid, hidden) in zip(
            reversed(model.blocks), reversed(saved), strict=True
        ):
            attn = block.attn
            mlp_grad = (grad @ block.mlp.fc2.weight) * _gelu_derivative(hidden)
            grad = grad + _layer_norm_backward(mid, mlp_grad @ block.mlp.fc1.weight, block.norm2)
            b, n, _ = grad.shape
            y_grad = (grad @ attn.proj.weight).reshape(b, n, attn.num_heads, -1).transpose(1, 2)
            probs_grad = y_grad @ v.transpose(-2, -1)
            weighted.append((probs_grad * probs).clamp(min=0).mean(dim=1))
            v_grad = probs.transpose(-2, -1) @ y_grad
            score_grad = probs * (probs_grad - (probs_grad * probs).sum(dim=-1, keepdim=True))
            q_grad = (score_grad @ k) * attn.scale
            k_grad = score_grad.transpose(-2, -1) @ q
            qkv_grad = (
                torch.stack([q_grad, k_grad, v_grad]).permute(1, 3, 0, 2, 4).reshape(b, n, -1)
            )
            grad = grad + _layer_norm_backward(inputs, qkv_grad @ attn.qkv.weight, block.norm1)
        weighted.reverse()
        return logits, _accumulate(weighted, c.n_slots, c.n_cols)


def autograd_relevance(model: EpochViT, images: torch.Tensor, present: torch.Tensor):
    """The same map as :class:`GradientRelevanceGraph`, with torch's autograd (the reference)."""
    c = model.config
    with torch.enable_grad():
        x, bias = model._tokens(images, present)
        key_bias = bias[:, 0, 0, :, None]
        probabilities = []
        for block in model.blocks:
            x, probs = explicit_attention(block, x, key_bias)
            probabilities.append(probs)
        logits, _ = model._outputs(x)
        chosen = logits.gather(1, logits.argmax(dim=1, keepdim=True)).sum()
        gradients = torch.autograd.grad(chosen, probabilities)
    weighted = [
        (g * p).clamp(min=0).mean(dim=1).detach()
        for g, p in zip(gradients, probabilities, strict=True)
    ]
    return _accumulate(weighted, c.n_slots, c.n_cols)
