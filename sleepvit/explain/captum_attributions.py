"""Integrated Gradients and Occlusion of EpochViT with captum, pooled per signal × 2-s patch.

Both ask the same question of the torch model (the weights folder's safetensors): how much
does each patch of the screen contribute to the logit of the target stage, compared with a
*flat* screen — every present signal drawn as a still line at its usual height in that epoch
(the median row of its trace), the picture of "nothing happening" (a black patch, no trace at
all, is a picture the model never saw; a line through the middle would be a change of level for
SpO2 or a drifting breathing trace). Integrated Gradients (Sundararajan et al. 2017)
integrates the gradient along the straight path from the flat screen to the epoch; Occlusion
(Zeiler & Fergus 2014) replaces one patch at a time by its flat version. Pixel attributions are
summed per patch and the positive part normalised (:func:`~sleepvit.explain.relevance.normalised`).

Imported only through :mod:`sleepvit.explain.attributions` (needs torch and captum).
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import IntegratedGradients, Occlusion
from torch import nn

from sleepvit.explain.relevance import normalised
from sleepvit.models.artifacts import check_render_config
from sleepvit.models.configs import EpochViTConfig
from sleepvit.models.torch_artifacts import load_artifacts
from sleepvit.rendering.config import RenderConfig

IG_STEPS = 32
"""Integration steps: the completeness gap (Σ attributions − logit difference) stays within a
few per cent of the logit difference on the demo weights at 32."""
OCCLUSION_BATCH = 55
"""Occluded copies of one epoch per forward pass (165 patches = 3 passes)."""


class _Logits(nn.Module):
    """EpochViT as captum wants it: float images in, logits out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        return self.model(images, present)[0]


def flat_screen(images: np.ndarray, config: EpochViTConfig, present: np.ndarray) -> np.ndarray:
    """Float images ``[n, H, W]``: each present row of ``images`` as a still trace drawn at the
    median height of its trace in that epoch (the middle of the row if nothing is drawn).

    >>> from sleepvit.models.configs import EpochViTConfig
    >>> images = np.zeros((1, 176, 240), np.uint8); images[0, 3, :] = 255; images[0, 13, 5] = 255
    >>> flat = flat_screen(images, EpochViTConfig(), np.ones((1, 11), bool))
    >>> flat.shape, int(flat[0, 3, 100]), int(flat[0, 13, 5]), int(flat[0, 24, 0])
    ((1, 176, 240), 255, 0, 255)
    """
    present = np.asarray(present, bool)
    screen = np.zeros((len(images), config.height, config.width), np.float32)
    rows = np.arange(config.row_px, dtype=np.float64)
    for i, image in enumerate(np.asarray(images)):
        for slot in np.flatnonzero(present[i]):
            top = slot * config.row_px
            ink = image[top : top + config.row_px].astype(np.float64).sum(axis=1)
            level = config.row_px // 2
            if ink.sum() > 0:
                cumulative = np.cumsum(ink) / ink.sum()
                level = int(rows[np.searchsorted(cumulative, 0.5)])
            screen[i, top + level] = 255.0
    return screen


def patch_sums(pixels: np.ndarray, config: EpochViTConfig) -> np.ndarray:
    """Per-pixel attributions ``[n, H, W]`` summed per patch: ``[n, n_slots, n_cols]``.

    >>> from sleepvit.models.configs import EpochViTConfig
    >>> patch_sums(np.ones((1, 176, 240)), EpochViTConfig())[0, 0, :2].tolist()
    [256.0, 256.0]
    """
    n = len(pixels)
    shaped = pixels.reshape(n, config.n_slots, config.row_px, config.n_cols, config.patch_px)
    return shaped.sum(axis=(2, 4))


def _model(backend) -> nn.Module:
    artifacts = getattr(backend, "artifacts", None) or load_artifacts(backend.folder)
    return _Logits(artifacts.epoch_vit).eval()


def attribute(
    backend,
    images: np.ndarray,
    present: np.ndarray,
    drawn_with: RenderConfig,
    method: str,
    target: np.ndarray | int | None = None,
) -> np.ndarray:
    """Normalised grids ``[n, n_slots, n_cols]`` of ``method`` (``ig`` or ``occlusion``).

    ``target``: stage code per epoch (or one for all); default EpochViT's own choice.
    """
    check_render_config(backend.render_config, drawn_with, backend.folder)
    config = backend.config.epoch_vit
    images = np.asarray(images, np.uint8)
    present = np.array(np.broadcast_to(np.asarray(present, bool), (len(images), config.n_slots)))
    model = _model(backend)
    inputs = torch.from_numpy(images.astype(np.float32))
    mask = torch.from_numpy(present)
    baselines = torch.from_numpy(flat_screen(images, config, present))
    with torch.no_grad():
        chosen = model(inputs, mask).argmax(dim=1)
    targets = chosen if target is None else torch.tensor(np.broadcast_to(target, len(images)))
    grids = []
    for i in range(len(images)):
        one = (inputs[i : i + 1], baselines[i : i + 1], mask[i : i + 1], int(targets[i]))
        grids.append(_attribute_one(model, config, method, *one))
    if not grids:
        return np.zeros((0, config.n_slots, config.n_cols), np.float32)
    grids = np.concatenate(grids)
    # An absent row is its own baseline: what occluding it changes is the float noise of
    # batched forward passes, not evidence.
    grids[~present] = 0.0
    return normalised(grids)


def _attribute_one(model, config, method, image, baseline, mask, target) -> np.ndarray:
    if method == "ig":
        explainer = IntegratedGradients(model)
        pixels = explainer.attribute(
            image,
            baselines=baseline,
            target=target,
            additional_forward_args=(mask,),
            n_steps=IG_STEPS,
            internal_batch_size=IG_STEPS,
        )
    elif method == "occlusion":
        explainer = Occlusion(model)
        with torch.no_grad():
            pixels = explainer.attribute(
                image,
                sliding_window_shapes=(config.row_px, config.patch_px),
                strides=(config.row_px, config.patch_px),
                baselines=baseline,
                target=target,
                additional_forward_args=(mask,),
                perturbations_per_eval=OCCLUSION_BATCH,
            )
    else:
        raise ValueError(f"unknown captum method {method!r}; choose ig or occlusion")
    return patch_sums(pixels.detach().numpy(), config)
