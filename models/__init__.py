"""The models: EpochViT (one 30-s screen) and SequenceTransformer (the night around it).

Names are imported lazily, so ``import sleepvit.models`` (and reading a weights folder's
config) works without torch; the torch models load on first use.

Examples
--------
>>> from sleepvit.models import EpochViTConfig
>>> EpochViTConfig().n_tokens
165
"""

from __future__ import annotations

import importlib
import os

# ONNX Runtime's official builds start a telemetry uploader and keep a device id in the
# user's folders; a hospital workstation is offline and keeps neither. Every module that
# imports onnxruntime lives in this package, so this runs first; an administrator's own
# setting wins.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

_EXPORTS = {
    "EpochViTConfig": "configs",
    "SequenceConfig": "configs",
    "EpochViT": "epoch_vit",
    "embed_epochs": "epoch_vit",
    "SequenceTransformer": "sequence",
    "sequence_probabilities": "sequence",
    "AugmentConfig": "augment",
    "augment_batch": "augment",
    "ArtifactConfig": "artifacts",
    "Artifacts": "torch_artifacts",
    "check_render_config": "artifacts",
    "default_weights_dir": "artifacts",
    "load_artifacts": "torch_artifacts",
    "read_config": "artifacts",
    "save_artifacts": "torch_artifacts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
