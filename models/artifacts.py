"""A weights folder ``models/weights/<name>/``: how a trained model is saved, shipped and loaded.

::

    config.json              render config, architectures, classes, temperature, provenance
    epoch_vit.safetensors    EpochViT tensors
    sequence.safetensors     SequenceTransformer tensors

This module reads and checks ``config.json`` and needs no torch: the ONNX scoring runtime
does both. The tensors are saved and loaded by :mod:`sleepvit.models.torch_artifacts` (with
torch), in safetensors only: loading never unpickles, so a weights folder from an untrusted
source cannot run code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from sleepvit.errors import ModelError
from sleepvit.hypnogram import STAGES
from sleepvit.models.configs import EpochViTConfig, SequenceConfig
from sleepvit.rendering.config import RenderConfig

CONFIG_FILE = "config.json"
EPOCH_VIT_FILE = "epoch_vit.safetensors"
SEQUENCE_FILE = "sequence.safetensors"
DEMO_WEIGHTS = "sleepvit-demo"


def default_weights_dir() -> Path:
    """The ``sleepvit-demo`` weights folder shipped inside the installed package.

    >>> default_weights_dir().name
    'sleepvit-demo'
    """
    return Path(__file__).resolve().parent / "weights" / DEMO_WEIGHTS


@dataclass(frozen=True)
class ArtifactConfig:
    """Everything in ``config.json``: what a saved model expects and where it came from.

    Examples
    --------
    >>> vit = EpochViTConfig(dim=32, depth=1, heads=2)
    >>> cfg = ArtifactConfig("tiny", "0.1", RenderConfig(), vit, SequenceConfig(embed_dim=32))
    >>> ArtifactConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    name: str
    version: str
    render_config: RenderConfig
    epoch_vit: EpochViTConfig
    sequence: SequenceConfig
    classes: tuple[str, ...] = STAGES
    temperature: float = 1.0
    """Calibration: logits are divided by it before softmax."""
    training: dict = field(default_factory=dict)
    """Provenance: data, seeds, command, metrics — free-form, JSON-serialisable."""

    def __post_init__(self) -> None:
        rc, vit = self.render_config, self.epoch_vit
        if EpochViTConfig.for_render_config(rc, **_size_fields(vit)) != vit:
            raise ValueError(
                f"epoch_vit geometry (n_slots {vit.n_slots}, row_px {vit.row_px}, px_per_s "
                f"{vit.px_per_s}, epoch_s {vit.epoch_s}) does not match the render config"
            )
        if self.sequence.embed_dim != vit.dim:
            raise ValueError(
                f"sequence.embed_dim ({self.sequence.embed_dim}) must equal epoch_vit.dim "
                f"({vit.dim})"
            )
        if tuple(self.classes) != STAGES:
            raise ValueError(f"classes must be {list(STAGES)}, got {list(self.classes)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "classes": list(self.classes),
            "temperature": self.temperature,
            "render_config": self.render_config.to_dict(),
            "epoch_vit": self.epoch_vit.to_dict(),
            "sequence": self.sequence.to_dict(),
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ArtifactConfig:
        return cls(
            name=data["name"],
            version=data["version"],
            render_config=RenderConfig.from_dict(data["render_config"]),
            epoch_vit=EpochViTConfig.from_dict(data["epoch_vit"]),
            sequence=SequenceConfig.from_dict(data["sequence"]),
            classes=tuple(data["classes"]),
            temperature=float(data["temperature"]),
            training=dict(data.get("training", {})),
        )

    def with_temperature(self, temperature: float) -> ArtifactConfig:
        """The same config with a newly fitted calibration temperature."""
        return replace(self, temperature=float(temperature))


def _size_fields(config: EpochViTConfig) -> dict:
    geometry = {"n_slots", "row_px", "px_per_s", "epoch_s"}
    return {f.name: getattr(config, f.name) for f in fields(config) if f.name not in geometry}


def read_config(folder: str | Path) -> ArtifactConfig:
    """Read and validate ``folder/config.json`` (no torch needed).

    Raises :class:`ModelError` naming the folder if it or its config is missing or invalid.
    """
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise ModelError(
            "weights folder not found; pass the folder that holds config.json and the "
            ".safetensors files",
            folder,
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"{CONFIG_FILE} is missing from the weights folder; copy the complete folder "
            "again or retrain",
            folder,
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"{CONFIG_FILE} is unreadable or corrupt ({exc}); copy the complete folder again",
            folder,
        ) from exc
    try:
        return ArtifactConfig.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ModelError(
            f"{CONFIG_FILE} does not describe a SleepViT model ({problem}); use a folder "
            "written by 'sleepvit train' of this version",
            folder,
        ) from exc


def render_config_differences(expected: RenderConfig, actual: RenderConfig) -> list[str]:
    """Human-readable differences between two render configs, e.g. ``['px_per_s 8.0 ≠ 10.0']``.

    >>> render_config_differences(RenderConfig(), RenderConfig(px_per_s=10.0))
    ['px_per_s 8.0 ≠ 10.0']
    """
    differences = []
    if expected.slots != actual.slots:
        differences.append(f"slots {list(expected.slots)} ≠ {list(actual.slots)}")
    else:
        for want, got in zip(expected.rows, actual.rows, strict=True):
            for name in ("band_hz", "range"):
                if getattr(want, name) != getattr(got, name):
                    differences.append(
                        f"{want.slot} {name} {getattr(want, name)} ≠ {getattr(got, name)}"
                    )
    for f in fields(RenderConfig):
        if f.name != "rows" and getattr(expected, f.name) != getattr(actual, f.name):
            differences.append(f"{f.name} {getattr(expected, f.name)} ≠ {getattr(actual, f.name)}")
    return differences


def check_render_config(
    model_config: RenderConfig, images_config: RenderConfig, weights: str | Path | None = None
) -> None:
    """Refuse images drawn with another :class:`RenderConfig` than the model was trained on.

    Raises :class:`ModelError` saying what differs (model value ≠ image value).

    >>> check_render_config(RenderConfig(), RenderConfig())  # same drawing: accepted
    """
    if model_config.fingerprint() == images_config.fingerprint():
        return
    differences = render_config_differences(model_config, images_config) or ["fingerprint"]
    raise ModelError(
        "the images were drawn with another render config than the model was trained on "
        f"({'; '.join(differences)}, model ≠ images); render them with the model's "
        "render_config from its config.json",
        weights,
    )
