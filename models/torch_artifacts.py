"""A weights folder's models in PyTorch: save them with their ``config.json``, load them back.

Tensors are written and read with safetensors only: loading never unpickles, so a weights
folder from an untrusted source cannot run code. Every tensor name and shape is checked
against the architecture in ``config.json`` before anything is loaded. Needs the ``train``
extra; the torch-free side of a weights folder is :mod:`sleepvit.models.artifacts`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sleepvit import __version__
from sleepvit.errors import ModelError
from sleepvit.io.atomic import atomic_open, atomic_path
from sleepvit.models.artifacts import (
    CONFIG_FILE,
    DEMO_WEIGHTS,
    EPOCH_VIT_FILE,
    SEQUENCE_FILE,
    ArtifactConfig,
    read_config,
)
from sleepvit.models.epoch_vit import EpochViT
from sleepvit.models.sequence import SequenceTransformer
from sleepvit.rendering.config import RenderConfig


@dataclass
class Artifacts:
    """A weights folder in memory: its config and both models, in eval mode."""

    config: ArtifactConfig
    epoch_vit: EpochViT
    sequence: SequenceTransformer
    folder: Path

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def version(self) -> str:
        return self.config.version

    @property
    def render_config(self) -> RenderConfig:
        return self.config.render_config

    @property
    def temperature(self) -> float:
        return self.config.temperature


def save_artifacts(
    folder: str | Path,
    epoch_vit: EpochViT,
    sequence: SequenceTransformer,
    *,
    render_config: RenderConfig,
    temperature: float = 1.0,
    name: str = DEMO_WEIGHTS,
    version: str = __version__,
    training: dict | None = None,
) -> ArtifactConfig:
    """Write ``config.json`` and both ``.safetensors`` files into ``folder``, each atomically.

    Returns the :class:`ArtifactConfig` written. Raises ``ValueError`` if the models do not
    fit ``render_config`` or each other.

    Examples
    --------
    >>> import tempfile
    >>> from sleepvit.models.configs import EpochViTConfig, SequenceConfig
    >>> vit = EpochViT(EpochViTConfig(dim=16, depth=1, heads=2))
    >>> seq = SequenceTransformer(SequenceConfig(embed_dim=16, dim=16, depth=1, heads=2))
    >>> folder = Path(tempfile.mkdtemp()) / "tiny"
    >>> _ = save_artifacts(folder, vit, seq, render_config=RenderConfig(), name="tiny")
    >>> sorted(p.name for p in folder.iterdir())
    ['config.json', 'epoch_vit.safetensors', 'sequence.safetensors']
    >>> load_artifacts(folder).name
    'tiny'
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    config = ArtifactConfig(
        name=name,
        version=version,
        render_config=render_config,
        epoch_vit=epoch_vit.config,
        sequence=sequence.config,
        temperature=float(temperature),
        training=dict(training or {}),
    )
    for filename, model in ((EPOCH_VIT_FILE, epoch_vit), (SEQUENCE_FILE, sequence)):
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        with atomic_path(folder / filename) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt", "model": name})
    with atomic_open(folder / CONFIG_FILE, encoding="utf-8") as f:
        json.dump(config.to_dict(), f, indent=2, sort_keys=True)
        f.write("\n")
    return config


def _load_tensors(model, folder: Path, filename: str) -> None:
    """Load ``folder/filename`` into ``model`` after checking every tensor name and shape."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = folder / filename
    if not path.is_file():
        raise ModelError(
            f"{filename} is missing from the weights folder; copy the complete folder again",
            folder,
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(
            f"{filename} is corrupt or not a safetensors file ({exc}); copy the complete "
            "folder again",
            folder,
        ) from exc
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    problems = [f"missing {n}" for n in expected if n not in found]
    problems += [f"unexpected {n}" for n in found if n not in expected]
    problems += [
        f"{n} has shape {found[n]}, expected {shape}"
        for n, shape in expected.items()
        if n in found and found[n] != shape
    ]
    if problems:
        shown = "; ".join(problems[:3]) + (
            f"; … {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise ModelError(
            f"{filename} does not match the architecture in {CONFIG_FILE} ({shown}); the "
            "files come from different models — copy the complete folder again",
            folder,
        )
    model.load_state_dict(tensors, strict=True)


def load_artifacts(folder: str | Path, device: str = "cpu") -> Artifacts:
    """Load a weights folder written by :func:`save_artifacts`; models come in eval mode.

    Raises :class:`ModelError` naming the folder for a missing, corrupt or mismatched file.
    """
    folder = Path(folder)
    config = read_config(folder)
    epoch_vit = EpochViT(config.epoch_vit)
    sequence = SequenceTransformer(config.sequence)
    _load_tensors(epoch_vit, folder, EPOCH_VIT_FILE)
    _load_tensors(sequence, folder, SEQUENCE_FILE)
    return Artifacts(
        config=config,
        epoch_vit=epoch_vit.to(device).eval(),
        sequence=sequence.to(device).eval(),
        folder=folder,
    )
