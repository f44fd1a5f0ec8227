"""A weights folder ``models/weights/<name>/``: how a trained model is saved, shipped and loaded.

::

    config.json              render config, architectures, classes, temperature, provenance
    epoch_vit.safetensors    EpochViT tensors
    sequence.safetensors     SequenceTransformer tensors

Tensors are stored with safetensors only: loading never unpickles, so a weights folder from
an untrusted source cannot run code. Reading ``config.json`` and checking a render config
need no torch (the ONNX scoring runtime does both); saving and loading tensors import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sleepvit import __version__
from sleepvit.errors import ModelError
from sleepvit.hypnogram import STAGES
from sleepvit.io.atomic import atomic_open, atomic_path
from sleepvit.models.configs import EpochViTConfig, SequenceConfig
from sleepvit.rendering.config import RenderConfig

if TYPE_CHECKING:
    from sleepvit.models.epoch_vit import EpochViT
    from sleepvit.models.sequence import SequenceTransformer

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
    >>> from sleepvit.models.epoch_vit import EpochViT
    >>> from sleepvit.models.sequence import SequenceTransformer
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
    from sleepvit.models.epoch_vit import EpochViT
    from sleepvit.models.sequence import SequenceTransformer

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
