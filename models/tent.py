"""TENT on a night: EpochViT's LayerNorms fitted to its own epochs by entropy minimisation.

The torch side of :mod:`sleepvit.models.adapt` (needs the ``train`` extra). Only the affine
parameters of every LayerNorm (each block's ``norm1`` and ``norm2`` and the final ``norm``)
are trained, on a copy of the weights folder's EpochViT: the night moves how features are
scaled and shifted, never what the attention or the head computes, and the weights on disk
are untouched. The model stays in eval mode (no drop-path) and the batches are shuffled by a
seeded generator, so a night is adapted the same way every time.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from sleepvit.models.adapt import AdaptSettings
from sleepvit.models.backends import Backend
from sleepvit.models.epoch_vit import EpochViT
from sleepvit.models.torch_artifacts import load_artifacts
from sleepvit.models.torch_backend import TorchBackend


def layer_norm_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Freeze ``model`` except its LayerNorms' weights and biases, and return those.

    >>> from sleepvit.models.configs import EpochViTConfig
    >>> model = EpochViT(EpochViTConfig(dim=16, depth=2, heads=2))
    >>> len(layer_norm_parameters(model))  # (norm1, norm2) × 2 blocks + the final norm, ×2
    10
    >>> sum(p.requires_grad for p in model.parameters())
    10
    """
    model.requires_grad_(False)
    parameters = [
        p
        for module in model.modules()
        if isinstance(module, nn.LayerNorm)
        for p in module.parameters()
    ]
    for parameter in parameters:
        parameter.requires_grad_(True)
    return parameters


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` along the last axis.

    >>> round(float(softmax_entropy(torch.zeros(1, 5))[0]), 4)  # ln 5
    1.6094
    """
    log_p = logits.log_softmax(dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def tent(
    epoch_vit: EpochViT,
    images: np.ndarray,
    present: np.ndarray,
    settings: AdaptSettings,
    check: Callable[[], None] | None = None,
) -> tuple[EpochViT, dict]:
    """A copy of ``epoch_vit`` adapted to uint8 ``images`` ``[n, H, W]`` (``present``
    ``[n, n_slots]``), and what was done: steps, epochs, samples kept by the filter."""
    model = copy.deepcopy(epoch_vit).eval()
    optimiser = torch.optim.Adam(layer_norm_parameters(model), lr=settings.learning_rate)
    images_t, present_t = torch.tensor(images), torch.tensor(present)
    order_rng = np.random.default_rng(settings.seed)
    steps = reliable = 0
    entropy_sum = 0.0
    for _ in range(settings.passes):
        order = torch.from_numpy(order_rng.permutation(len(images)))
        for batch in order.split(settings.batch_size):
            if check is not None:
                check()
            logits, _ = model(images_t[batch], present_t[batch])
            entropy = softmax_entropy(logits)
            entropy_sum += float(entropy.detach().sum())
            keep = entropy < settings.entropy_limit
            if not keep.any():
                continue
            optimiser.zero_grad()
            entropy[keep].mean().backward()
            optimiser.step()
            steps += 1
            reliable += int(keep.sum())
    model.requires_grad_(False)
    seen = settings.passes * len(images)
    return model, {
        "epochs": len(images),
        "steps": steps,
        "reliable_samples": reliable,
        "mean_entropy_during": entropy_sum / seen if seen else None,
    }


class AdaptedBackend(TorchBackend):
    """An adapted EpochViT (torch fp32) before the sequence model of the backend it came from."""

    def __init__(self, base: Backend, artifacts):
        Backend.__init__(self, base.folder, base.config)
        self.name = base.name
        self.artifacts = artifacts
        self._base = base

    def _sequence(self, windows, valid):
        return self._base._sequence(windows, valid)


def adapt_to_night(
    scorer: Backend, images: np.ndarray, present: np.ndarray, settings: AdaptSettings, check=None
) -> tuple[Backend, dict]:
    """:func:`sleepvit.models.adapt.adapted_backend` of checked ``images`` and ``present``
    ``[n, n_slots]``: TENT on a copy of the weights folder's torch EpochViT."""
    started = time.perf_counter()
    base = scorer._base if isinstance(scorer, AdaptedBackend) else scorer
    artifacts = base.artifacts if isinstance(base, TorchBackend) else load_artifacts(base.folder)
    adapted, done = tent(artifacts.epoch_vit, images, present, settings, check)
    backend = AdaptedBackend(base, dataclasses.replace(artifacts, epoch_vit=adapted))
    return backend, settings.to_dict() | done | {
        "epoch_vit_runtime": "torch fp32",
        "seconds": time.perf_counter() - started,
    }
