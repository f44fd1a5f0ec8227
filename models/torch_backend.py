"""The ``torch`` backend: a weights folder's safetensors run in PyTorch fp32.

Imported by :func:`sleepvit.models.backends.load_backend` only when ``torch`` is chosen, so the
ONNX scoring runtime never reaches torch, timm or captum. Heatmaps come from the same
:class:`~sleepvit.models.rollout.EpochViTGraph` that is exported to ONNX.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sleepvit.models.artifacts import ArtifactConfig
from sleepvit.models.backends import Backend
from sleepvit.models.gradient_relevance import GradientRelevanceGraph
from sleepvit.models.rollout import EpochViTGraph
from sleepvit.models.torch_artifacts import load_artifacts


class TorchBackend(Backend):
    """The safetensors weights in PyTorch fp32 (needs the ``train`` extra)."""

    name = "torch"

    def __init__(self, folder: Path, config: ArtifactConfig, threads=None):
        super().__init__(folder, config)
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.artifacts = load_artifacts(folder)

    def _epoch_vit(self, images, present):
        with torch.inference_mode():
            logits, embedding = self.artifacts.epoch_vit(
                torch.tensor(images), torch.tensor(present)
            )
        return logits.numpy(), embedding.numpy()

    def _epoch_vit_with_rollout(self, images, present):
        with torch.inference_mode():
            graph = EpochViTGraph(self.artifacts.epoch_vit).eval()
            outputs = graph(torch.tensor(images), torch.tensor(present))
        return tuple(output.numpy() for output in outputs)

    def _relevance(self, images, present):
        with torch.inference_mode():
            graph = GradientRelevanceGraph(self.artifacts.epoch_vit).eval()
            outputs = graph(torch.tensor(images), torch.tensor(present))
        return tuple(output.numpy() for output in outputs)

    def _sequence(self, windows, valid):
        with torch.inference_mode():
            logits = self.artifacts.sequence(torch.tensor(windows), torch.tensor(valid))
        return logits.numpy()
