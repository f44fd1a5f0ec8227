"""Running the exported ONNX models with ONNX Runtime — no torch, timm or captum needed.

A weights folder gains, from ``sleepvit export-int8 WEIGHTS``, one ONNX file per model and
precision (see :func:`onnx_filename`)::

    epoch_vit.int8.onnx   images uint8 [batch, H, W], present bool [batch, n_slots]
                          → logits [batch, 5], embedding [batch, D],
                            rollout [batch, n_slots, n_cols] (attention rollout of the CLS token)
    sequence.int8.onnx    embeddings float [batch, L, D], valid bool [batch, L]
                          → logits [batch, L, 5]
    epoch_vit.fp32.onnx, sequence.fp32.onnx   the same graphs before quantization
    epoch_vit_relevance.fp32.onnx   images, present → logits [batch, 5],
                          relevance [batch, n_slots, n_cols] (gradient-weighted attention of
                          the stage chosen, :mod:`sleepvit.models.gradient_relevance`)

Every file is checked when it is opened: it must parse, have exactly these input and output
names, types and shapes for the architecture in ``config.json``, and carry the architecture it
was exported from in its metadata, so a file copied from another model is refused with a
one-line :class:`~sleepvit.errors.ModelError` instead of scoring garbage.

This module imports only numpy and onnxruntime: it is the runtime of a hospital workstation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from sleepvit.errors import ModelError
from sleepvit.models.artifacts import ArtifactConfig

EPOCH_VIT = "epoch_vit"
SEQUENCE = "sequence"
RELEVANCE = "epoch_vit_relevance"
"""EpochViT with its explicit backward pass: the relevance map of one screen (fp32 only)."""
PRECISIONS: tuple[str, ...] = ("int8", "fp32")
ARCHITECTURE_KEY = "sleepvit.architecture"
"""ONNX metadata key holding the JSON architecture (:func:`architecture_of`) of the export."""
QUANTIZATION_KEY = "sleepvit.quantization"
"""ONNX metadata key saying how the file was quantized (``none``, ``dynamic``, ``static-qdq``)."""
BATCH = "batch"
"""Name of the free batch dimension of every input and output."""

_ONNX_TYPES = {"uint8": "tensor(uint8)", "bool": "tensor(bool)", "float32": "tensor(float)"}


def onnx_filename(model: str, precision: str) -> str:
    """File name of an exported model in a weights folder.

    >>> onnx_filename("epoch_vit", "int8")
    'epoch_vit.int8.onnx'
    """
    if model not in (EPOCH_VIT, SEQUENCE, RELEVANCE) or precision not in PRECISIONS:
        raise ValueError(f"no ONNX file for model {model!r} in precision {precision!r}")
    return f"{model}.{precision}.onnx"


@dataclass(frozen=True)
class TensorSpec:
    """Name, numpy dtype and shape (``'batch'`` for the free dimension) of one graph tensor."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def describe(self) -> str:
        return f"{self.name} {self.dtype}[{', '.join(map(str, self.shape))}]"


@dataclass(frozen=True)
class GraphSignature:
    """Inputs and outputs a graph must have to fit a weights folder's ``config.json``."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def epoch_vit_signature(config: ArtifactConfig) -> GraphSignature:
    """Inputs and outputs of ``epoch_vit.*.onnx`` for the EpochViT in ``config``.

    >>> from sleepvit.models.configs import EpochViTConfig, SequenceConfig
    >>> from sleepvit.rendering.config import RenderConfig
    >>> vit = EpochViTConfig(dim=32, depth=1, heads=2)
    >>> cfg = ArtifactConfig("tiny", "0", RenderConfig(), vit, SequenceConfig(embed_dim=32))
    >>> [spec.describe() for spec in epoch_vit_signature(cfg).outputs]
    ['logits float32[batch, 5]', 'embedding float32[batch, 32]', 'rollout float32[batch, 11, 15]']
    """
    vit = config.epoch_vit
    return GraphSignature(
        inputs=(
            TensorSpec("images", "uint8", (BATCH, vit.height, vit.width)),
            TensorSpec("present", "bool", (BATCH, vit.n_slots)),
        ),
        outputs=(
            TensorSpec("logits", "float32", (BATCH, vit.n_classes)),
            TensorSpec("embedding", "float32", (BATCH, vit.dim)),
            TensorSpec("rollout", "float32", (BATCH, vit.n_slots, vit.n_cols)),
        ),
    )


def relevance_signature(config: ArtifactConfig) -> GraphSignature:
    """Inputs and outputs of ``epoch_vit_relevance.fp32.onnx``: those of EpochViT, then the map."""
    vit = config.epoch_vit
    return GraphSignature(
        inputs=epoch_vit_signature(config).inputs,
        outputs=(
            TensorSpec("logits", "float32", (BATCH, vit.n_classes)),
            TensorSpec("relevance", "float32", (BATCH, vit.n_slots, vit.n_cols)),
        ),
    )


def sequence_signature(config: ArtifactConfig) -> GraphSignature:
    """Inputs and outputs of ``sequence.*.onnx``: one full window of ``context`` epochs."""
    seq = config.sequence
    return GraphSignature(
        inputs=(
            TensorSpec("embeddings", "float32", (BATCH, seq.context, seq.embed_dim)),
            TensorSpec("valid", "bool", (BATCH, seq.context)),
        ),
        outputs=(TensorSpec("logits", "float32", (BATCH, seq.context, seq.n_classes)),),
    )


def architecture_of(config: ArtifactConfig, model: str) -> dict:
    """What an exported graph depends on: the model's architecture and the render config.

    Stored in the ONNX metadata at export and compared with ``config.json`` when loading.
    """
    if model in (EPOCH_VIT, RELEVANCE):
        return {
            "epoch_vit": config.epoch_vit.to_dict(),
            "render_config": config.render_config.fingerprint(),
        }
    return {"sequence": config.sequence.to_dict()}


def _first_line(exc: Exception, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_arg(arg) -> str:
    shape = ", ".join(d if isinstance(d, str) else str(d) for d in arg.shape)
    dtype = {onnx_type: name for name, onnx_type in _ONNX_TYPES.items()}.get(arg.type, arg.type)
    return f"{arg.name} {dtype}[{shape}]"


def _signature_problems(session: ort.InferenceSession, signature: GraphSignature) -> list[str]:
    problems = []
    for kind, found, wanted in (
        ("input", session.get_inputs(), signature.inputs),
        ("output", session.get_outputs(), signature.outputs),
    ):
        found_names = [arg.name for arg in found]
        wanted_names = [spec.name for spec in wanted]
        if found_names != wanted_names:
            problems.append(f"{kind}s {found_names}, expected {wanted_names}")
            continue
        for arg, spec in zip(found, wanted, strict=True):
            fixed = tuple(None if isinstance(d, str) else d for d in spec.shape)
            shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
            if arg.type != _ONNX_TYPES[spec.dtype] or shape != fixed:
                problems.append(f"{kind} {_describe_arg(arg)}, expected {spec.describe()}")
    return problems


class OnnxModel:
    """One checked ONNX graph of a weights folder, ready to run on the CPU.

    Raises :class:`ModelError` (one line, naming the file and the fix) if the file is missing,
    is not a loadable ONNX model, or does not fit ``config.json``.

    Examples
    --------
    >>> model = OnnxModel("weights/sleepvit-demo", "epoch_vit", "int8", threads=2)  # doctest: +SKIP
    >>> model.run({"images": images, "present": present}, ["logits"])[0].shape    # doctest: +SKIP
    (960, 5)
    """

    def __init__(
        self,
        folder: str | Path,
        model: str,
        precision: str,
        config: ArtifactConfig,
        threads: int | None = None,
    ):
        self.path = Path(folder) / onnx_filename(model, precision)
        self.model = model
        fix = f"run 'sleepvit export-int8 {Path(folder)}' to export it again"
        if not self.path.is_file():
            raise ModelError(
                f"{self.path.name} is missing from the weights folder; run 'sleepvit "
                f"export-int8 {Path(folder)}' to create it, or score with the torch backend",
                folder,
                settings=("backend",),
            )
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises bare pybind classes (InvalidProtobuf, Fail, …)
            reason = _first_line(exc).rsplit(":", 1)[-1].strip()  # drop ORT's code and path
            raise ModelError(
                f"{self.path} is corrupt or not an ONNX model ({reason}); {fix}", self.path
            ) from exc
        signature = {
            EPOCH_VIT: epoch_vit_signature,
            SEQUENCE: sequence_signature,
            RELEVANCE: relevance_signature,
        }[model](config)
        problems = _signature_problems(self.session, signature)
        if problems:
            raise ModelError(
                f"does not match config.json ({'; '.join(problems[:2])}); it belongs to another "
                f"model or version — {fix}",
                self.path,
            )
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.quantization = metadata.get(QUANTIZATION_KEY, "unknown")
        try:
            exported = json.loads(metadata[ARCHITECTURE_KEY])
        except (KeyError, json.JSONDecodeError):
            exported = None
        expected = architecture_of(config, model)
        if exported != expected:
            differences = _architecture_differences(expected, exported)
            raise ModelError(
                f"was exported from another model than config.json describes ({differences}); "
                f"{fix}",
                self.path,
            )
        self.output_names = [arg.name for arg in self.session.get_outputs()]

    def run(self, feed: dict[str, np.ndarray], outputs: Sequence[str] | None = None):
        """Outputs (all, or the named ones) for one batch ``feed`` of input name → array."""
        return self.session.run(list(outputs) if outputs else None, feed)


def _architecture_differences(expected: dict, exported: dict | None) -> str:
    if exported is None:
        return "no SleepViT architecture in its metadata"
    differences = []
    for part, want in expected.items():
        got = exported.get(part)
        if isinstance(want, dict) and isinstance(got, dict):
            differences += [
                f"{part}.{key}: file {got.get(key)}, config.json {value}"
                for key, value in want.items()
                if got.get(key) != value
            ]
        elif got != want:
            differences.append(f"{part} differs")
    return "; ".join(differences[:3]) or "metadata differs"
