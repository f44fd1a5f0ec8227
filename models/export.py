"""ONNX export and int8 quantization of a weights folder (``sleepvit export-int8 WEIGHTS``).

Writes next to ``config.json`` (names and tensor contract in
:mod:`sleepvit.models.onnx_runtime`)::

    epoch_vit.fp32.onnx  sequence.fp32.onnx   exported graphs, checked against torch
    epoch_vit.int8.onnx  sequence.int8.onnx   quantized with ONNX Runtime
    epoch_vit_relevance.fp32.onnx             EpochViT with its explicit backward pass: the
                                              gradient-weighted relevance map of one screen
                                              (:mod:`sleepvit.models.gradient_relevance`)

Two int8 recipes are built and measured on rendered simulated epochs, and the better one is
kept (:func:`choose_quantization`): *dynamic* (activations quantized per batch at run time)
and *static QDQ* (uint8 activations with ranges calibrated on the same kind of epochs), both
with per-channel int8 weights. A recipe must agree with fp32 on ≥ 98 % of
the epochs to be eligible; among the eligible ones the faster wins.

What runs in int8: the products with stored weight matrices — QKV, attention projection and
MLP of every block, and the sequence model's (per-channel int8 weights; the dynamic recipe
quantizes activations per batch, ``DynamicQuantizeMatMul``, u8×s8 with AVX512-VNNI). What stays
float32 (:func:`float_operators` lists it for a file, as ONNX Runtime runs it): the
patch-embedding Conv, the attention products q·k and p·v, Softmax, LayerNormalization, GELU,
residual additions, positional embeddings, the 5-class head and the rollout. Integer-only
inference (I-ViT style shift softmax/GELU, integer LayerNorm) would replace exactly those
nodes: the graph is built from :class:`~sleepvit.models.rollout.EpochViTGraph`, whose attention
softmax, MLP activation and norms are separate, named steps, so such operators can be swapped
in there later.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import timm
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_dynamic,
    quantize_static,
)
from torch import nn

from sleepvit import __version__
from sleepvit.errors import ModelError
from sleepvit.io.atomic import atomic_path
from sleepvit.models.backends import sliding_windows, softmax
from sleepvit.models.gradient_relevance import GradientRelevanceGraph, autograd_relevance
from sleepvit.models.onnx_runtime import (
    ARCHITECTURE_KEY,
    EPOCH_VIT,
    QUANTIZATION_KEY,
    RELEVANCE,
    SEQUENCE,
    OnnxModel,
    architecture_of,
    epoch_vit_signature,
    onnx_filename,
    relevance_signature,
    sequence_signature,
)
from sleepvit.models.parity import MIN_AGREEMENT
from sleepvit.models.rollout import EpochViTGraph
from sleepvit.models.torch_artifacts import Artifacts, load_artifacts
from sleepvit.rendering.config import RenderConfig

OPSET = 17
"""Opset 17 makes LayerNormalization one ONNX op (instead of a chain of reductions)."""
METHODS: tuple[str, ...] = ("dynamic", "static-qdq")
BATCH = 64


def _example_inputs(artifacts: Artifacts) -> dict[str, dict[str, np.ndarray]]:
    """Small deterministic inputs (one slot absent) to trace with and to verify the export."""
    vit, seq = artifacts.config.epoch_vit, artifacts.config.sequence
    rng = np.random.default_rng(0)
    present = np.ones((3, vit.n_slots), bool)
    present[:, -1] = False
    valid = np.ones((3, seq.context), bool)
    valid[0, : seq.context // 2] = False
    return {
        EPOCH_VIT: {
            "images": rng.integers(0, 256, (3, vit.height, vit.width), dtype=np.uint8),
            "present": present,
        },
        SEQUENCE: {
            "embeddings": rng.standard_normal((3, seq.context, seq.embed_dim)).astype(np.float32),
            "valid": valid,
        },
    }


def _set_metadata(path: Path, metadata: dict[str, str]) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def _export_graph(graph: nn.Module, feed: dict[str, np.ndarray], outputs, path: Path) -> None:
    names = list(feed)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated but needs no onnxscript; the tracer's note on
        # the sequence model's window-length check is moot: windows are always ``context`` long.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            graph.eval(),
            tuple(torch.from_numpy(feed[name]) for name in names),
            str(path),
            input_names=names,
            output_names=list(outputs),
            dynamic_axes={name: {0: "batch"} for name in [*names, *outputs]},
            opset_version=OPSET,
            dynamo=False,
        )


def export_fp32(artifacts: Artifacts, workdir: Path) -> dict[str, Path]:
    """Export both models as fp32 ONNX into ``workdir``; checked against torch to 1e-3.

    Returns ``{"epoch_vit": path, "sequence": path}``.
    """
    config = artifacts.config
    examples = _example_inputs(artifacts)
    graphs = {
        EPOCH_VIT: (EpochViTGraph(artifacts.epoch_vit), epoch_vit_signature(config)),
        SEQUENCE: (artifacts.sequence, sequence_signature(config)),
    }
    paths = {}
    for model, (graph, signature) in graphs.items():
        path = workdir / onnx_filename(model, "fp32")
        outputs = [spec.name for spec in signature.outputs]
        _export_graph(graph, examples[model], outputs, path)
        _set_metadata(path, _metadata(config, model, "none"))
        paths[model] = path
    _verify_fp32(artifacts, workdir, examples)
    paths[RELEVANCE] = export_relevance(artifacts, workdir)
    return paths


def export_relevance(artifacts: Artifacts, folder: Path) -> Path:
    """Write ``folder/epoch_vit_relevance.fp32.onnx``, atomically, checked against autograd.

    The graph's explicit backward pass must give the map torch's autograd gives (to 1e-4 of
    a map that sums to 1) on epochs with an absent slot; otherwise nothing is written.
    """
    config = artifacts.config
    feed = _example_inputs(artifacts)[EPOCH_VIT]
    path = Path(folder) / onnx_filename(RELEVANCE, "fp32")
    outputs = [spec.name for spec in relevance_signature(config).outputs]
    with atomic_path(path) as tmp:
        _export_graph(GradientRelevanceGraph(artifacts.epoch_vit), feed, outputs, tmp)
        _set_metadata(tmp, _metadata(config, RELEVANCE, "none"))
        reference = autograd_relevance(
            artifacts.epoch_vit.eval(),
            torch.from_numpy(feed["images"]),
            torch.from_numpy(feed["present"]),
        ).numpy()
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        (got,) = session.run(["relevance"], feed)
        worst = float(np.abs(got - reference).max())
        if not worst < 1e-4:
            raise ModelError(
                f"the exported relevance graph differs from autograd by {worst:.2g}; report it "
                f"with the versions: SleepViT {__version__}, torch {torch.__version__}",
                artifacts.folder,
            )
    return path


def _metadata(config, model: str, quantization: str) -> dict[str, str]:
    return {
        ARCHITECTURE_KEY: json.dumps(architecture_of(config, model), sort_keys=True),
        QUANTIZATION_KEY: quantization,
    }


@torch.no_grad()
def _verify_fp32(artifacts: Artifacts, workdir: Path, examples: dict) -> None:
    """The exported graphs must reproduce the torch models' own forward passes."""
    vit_feed, seq_feed = examples[EPOCH_VIT], examples[SEQUENCE]
    logits, embedding = artifacts.epoch_vit(
        torch.from_numpy(vit_feed["images"]), torch.from_numpy(vit_feed["present"])
    )
    sequence = artifacts.sequence(
        torch.from_numpy(seq_feed["embeddings"]), torch.from_numpy(seq_feed["valid"])
    )
    onnx_vit = OnnxModel(workdir, EPOCH_VIT, "fp32", artifacts.config)
    onnx_seq = OnnxModel(workdir, SEQUENCE, "fp32", artifacts.config)
    got_logits, got_embedding, _ = onnx_vit.run(vit_feed)
    (got_sequence,) = onnx_seq.run(seq_feed)
    valid = seq_feed["valid"]
    worst = max(
        float(np.abs(got_logits - logits.numpy()).max()),
        float(np.abs(got_embedding - embedding.numpy()).max()),
        float(np.abs(got_sequence[valid] - sequence.numpy()[valid]).max()),
    )
    if not worst < 1e-3:
        raise ModelError(
            f"the ONNX export differs from the torch model by {worst:.2g}; this torch/timm "
            "version exports the model differently — report it with the versions: SleepViT "
            f"{__version__}, torch {torch.__version__}, timm {timm.__version__}",
            artifacts.folder,
        )


def _batches(feed: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """``feed`` cut into feeds of ``BATCH`` epoch images (or windows)."""
    n = len(next(iter(feed.values())))
    return [{k: v[i : i + BATCH] for k, v in feed.items()} for i in range(0, n, BATCH)]


class _Batches(CalibrationDataReader):
    """Feeds of ``BATCH`` epoch images (or windows) for ONNX Runtime's calibrator."""

    def __init__(self, feeds: dict[str, np.ndarray]):
        self._batches: Iterator[dict] = iter(_batches(feeds))

    def get_next(self) -> dict | None:
        return next(self._batches, None)


def weight_matmuls(path: Path) -> list[str]:
    """Names of the MatMul/Gemm nodes that multiply by a stored weight matrix.

    These are the layers worth int8 (QKV, projection, MLP, heads). The patch-embedding Conv
    is left in float: ONNX Runtime's ``ConvInteger`` took 13 % of the int8 run time against
    1 % for the float Conv. The attention products (activation × activation, 166 × 166 per
    head) are left in float too: quantizing them costs more in Q/DQ passes than it saves.
    """
    graph = onnx.load(str(path)).graph
    weights = {init.name for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type in ("MatMul", "Gemm") and any(name in weights for name in node.input)
    ]


def quantize(fp32: Path, out: Path, method: str, calibration: dict[str, np.ndarray]) -> None:
    """Quantize ``fp32`` to int8 at ``out`` with ``method`` (``dynamic`` or ``static-qdq``).

    Both recipes quantize the weight matrices per output channel (:func:`weight_matmuls`).
    ``calibration`` (input name → array) sets the activation ranges of the static recipe.
    """
    nodes = weight_matmuls(fp32)
    if method == "dynamic":
        quantize_dynamic(
            fp32, out, weight_type=QuantType.QInt8, per_channel=True, nodes_to_quantize=nodes
        )
    elif method == "static-qdq":
        prepared = out.with_suffix(".prep.onnx")
        quant_pre_process(fp32, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared,
            out,
            _Batches(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=weight_matmuls(prepared),
        )
        prepared.unlink()
    else:
        raise ValueError(f"unknown quantization method {method!r}; choose from {METHODS}")


INTEGER_OPS = frozenset(
    {
        "MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv", "QGemm", "QAttention",
        "DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
        "QuantizeLinear", "DequantizeLinear",
    }
)  # fmt: skip
"""Kernels that compute in int8/uint8 (or convert to and from it)."""
LAYOUT_OPS = frozenset(
    {
        "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Reshape", "Transpose", "Constant",
        "Slice", "Split", "Expand", "Flatten", "Identity", "ConstantOfShape", "Cast", "Equal",
        "Where", "Not", "Tile",
    }
)  # fmt: skip
"""Shape and indexing bookkeeping: no arithmetic, neither float nor integer."""


def float_operators(path: str | Path) -> dict[str, int]:
    """Arithmetic operators ONNX Runtime runs in floating point for ``path``, with counts.

    Read from the graph as ONNX Runtime optimises it for this CPU (after its QDQ and
    transformer fusions), so it lists what really runs in float32 — what an integer-only
    runtime would still have to replace.
    """
    with tempfile.TemporaryDirectory(prefix="sleepvit-ops-") as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3  # not the warning that the file is CPU-specific
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
    counts = Counter(n.op_type for n in graph.node if n.op_type not in INTEGER_OPS | LAYOUT_OPS)
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class Candidate:
    """One int8 recipe measured against fp32 on held-out rendered epochs."""

    method: str
    agreement: float
    """Share of epochs whose EpochViT stage equals the fp32 stage."""
    max_abs_dp: float
    """Largest difference of any stage probability from fp32."""
    ms_per_epoch: float
    size_bytes: int

    @property
    def eligible(self) -> bool:
        return self.agreement >= MIN_AGREEMENT


def _interleaved_ms_per_epoch(
    models: list[OnnxModel], feed: dict[str, np.ndarray], rounds: int = 5
) -> list[float]:
    """Fastest time per epoch of each model on one batch, timed in turn round after round.

    Interleaving and taking the minimum keep other load on a shared machine from favouring
    whichever model happened to run in a quiet moment.
    """
    batch = {k: v[:BATCH] for k, v in feed.items()}
    best = [float("inf")] * len(models)
    for model in models:
        model.run(batch)
    for _ in range(rounds):
        for i, model in enumerate(models):
            start = time.perf_counter()
            model.run(batch)
            best[i] = min(best[i], time.perf_counter() - start)
    return [1e3 * seconds / len(batch["images"]) for seconds in best]


def measure_candidates(
    folders: dict[str, Path], config, held_out: dict[str, np.ndarray], threads: int
) -> list[Candidate]:
    """Agreement, max |Δp| and speed of each recipe's ``epoch_vit.int8.onnx`` against fp32.

    ``folders`` maps a recipe name to the folder holding its fp32 and int8 files.
    """
    first = next(iter(folders.values()))
    fp32 = OnnxModel(first, EPOCH_VIT, "fp32", config, threads=threads)
    p32 = softmax(_run_batched(fp32, held_out, ["logits"])[0])
    int8 = {m: OnnxModel(f, EPOCH_VIT, "int8", config, threads=threads) for m, f in folders.items()}
    speeds = _interleaved_ms_per_epoch(list(int8.values()), held_out)
    candidates = []
    for (method, model), ms in zip(int8.items(), speeds, strict=True):
        p8 = softmax(_run_batched(model, held_out, ["logits"])[0])
        candidates.append(
            Candidate(
                method=method,
                agreement=float(np.mean(p32.argmax(1) == p8.argmax(1))),
                max_abs_dp=float(np.abs(p32 - p8).max()),
                ms_per_epoch=ms,
                size_bytes=(folders[method] / onnx_filename(EPOCH_VIT, "int8")).stat().st_size,
            )
        )
    return candidates


def _run_batched(model: OnnxModel, feed: dict[str, np.ndarray], outputs) -> list[np.ndarray]:
    parts = [model.run(batch, outputs) for batch in _batches(feed)]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(outputs))]


def choose_quantization(candidates: list[Candidate]) -> Candidate:
    """The fastest recipe that agrees with fp32 often enough, else the most faithful one.

    >>> a = Candidate("dynamic", 0.99, 0.05, 3.0, 1)
    >>> b = Candidate("static-qdq", 0.995, 0.04, 4.0, 1)
    >>> choose_quantization([a, b]).method
    'dynamic'
    """
    eligible = [c for c in candidates if c.eligible]
    if eligible:
        return min(eligible, key=lambda c: c.ms_per_epoch)
    return max(candidates, key=lambda c: (c.agreement, -c.max_abs_dp))


def rendered_simulated_epochs(
    render_config: RenderConfig, seeds: tuple[int, ...], hours: float = 0.5
) -> dict[str, np.ndarray]:
    """Epoch images and slot masks of simulated nights (alternating hospital / Sleep-EDF style).

    The calibration and comparison data of the int8 recipes; Sleep-EDF-style nights lack
    several slots, so the masked path is calibrated too.
    """
    from sleepvit.io import load_study
    from sleepvit.rendering import render_epochs
    from sleepvit.synth import simulate_night, write_night

    images, present = [], []
    with tempfile.TemporaryDirectory(prefix="sleepvit-calibration-") as tmp:
        for i, seed in enumerate(seeds):
            style = ("hospital", "sleep-edf")[i % 2]
            edf, _ = write_night(
                simulate_night(hours=hours, seed=seed, style=style), Path(tmp) / f"n{seed}.edf"
            )
            rendered = render_epochs(load_study(edf), render_config)
            images.append(rendered.images)
            present.append(np.repeat(rendered.present[None], len(rendered.images), axis=0))
    return {"images": np.concatenate(images), "present": np.concatenate(present)}


def _sequence_feed(folder: Path, config, epochs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sequence-model windows of the calibration epochs' fp32 embeddings."""
    fp32 = OnnxModel(folder, EPOCH_VIT, "fp32", config)
    (embeddings,) = _run_batched(fp32, epochs, ["embedding"])
    windows, valid, _ = sliding_windows(embeddings, config.sequence.context)
    return {"embeddings": windows, "valid": valid}


@dataclass
class ExportReport:
    """What :func:`export_int8` wrote and measured."""

    folder: Path
    chosen: Candidate
    candidates: list[Candidate]
    files: dict[str, int] = field(default_factory=dict)
    """File name → size in bytes."""
    float_ops: dict[str, int] = field(default_factory=dict)

    def format(self) -> str:
        lines = [f"int8 recipes on {self.folder} (EpochViT, vs fp32 ONNX):"]
        for c in self.candidates:
            mark = "*" if c is self.chosen else " "
            lines.append(
                f" {mark} {c.method:<11} agreement {100 * c.agreement:6.2f} %  max|Δp| "
                f"{c.max_abs_dp:.3f}  {c.ms_per_epoch:6.2f} ms/epoch  {c.size_bytes / 1e6:.2f} MB"
            )
        lines.append(f"kept {self.chosen.method}; files:")
        lines += [f"  {name}  {size / 1e6:.2f} MB" for name, size in self.files.items()]
        ops = ", ".join(f"{op}×{n}" for op, n in self.float_ops.items())
        lines.append(f"float32 operators left in epoch_vit.int8.onnx: {ops}")
        return "\n".join(lines)


def export_int8(
    folder: str | Path,
    method: str = "auto",
    calibration_seeds: tuple[int, ...] = (9001, 9002),
    held_out_seeds: tuple[int, ...] = (9101,),
    hours: float = 0.5,
    threads: int = 2,
) -> ExportReport:
    """Export a weights folder to fp32 and int8 ONNX, choosing the int8 recipe by measurement.

    ``method`` ``auto`` builds every recipe of :data:`METHODS` and keeps
    :func:`choose_quantization`'s pick; naming one builds only that. Calibration and
    comparison epochs are rendered from simulated nights of disjoint seeds. All four files
    are replaced atomically, and only once every one of them has been built and checked.

    Examples
    --------
    >>> print(export_int8("models/weights/sleepvit-demo").format())  # doctest: +SKIP
    """
    if method != "auto" and method not in METHODS:
        raise ModelError(f"unknown quantization method {method!r}; use auto or one of {METHODS}")
    folder = Path(folder)
    artifacts = load_artifacts(folder)
    config = artifacts.config
    with tempfile.TemporaryDirectory(prefix="sleepvit-export-") as tmp:
        work = Path(tmp)
        export_fp32(artifacts, work)
        calibration = rendered_simulated_epochs(config.render_config, calibration_seeds, hours)
        held_out = rendered_simulated_epochs(config.render_config, held_out_seeds, hours)
        fp32_files = [onnx_filename(model, "fp32") for model in (EPOCH_VIT, SEQUENCE, RELEVANCE)]
        int8_files = [onnx_filename(model, "int8") for model in (EPOCH_VIT, SEQUENCE)]
        feeds = {
            EPOCH_VIT: calibration,
            SEQUENCE: _sequence_feed(work, config, calibration),
        }
        builds = {}
        for name in METHODS if method == "auto" else (method,):
            builds[name] = work / name  # each recipe next to (links to) its fp32 files
            builds[name].mkdir()
            for filename in fp32_files:
                (builds[name] / filename).symlink_to(work / filename)
            quantize_pair(builds[name], name, config, feeds)
        candidates = measure_candidates(builds, config, held_out, threads)
        chosen = choose_quantization(candidates)
        sources = {f: work / f for f in fp32_files} | {
            f: work / chosen.method / f for f in int8_files
        }
        for filename, source in sources.items():
            with atomic_path(folder / filename) as target:
                target.write_bytes(source.read_bytes())
        return ExportReport(
            folder=folder,
            chosen=chosen,
            candidates=candidates,
            files={name: (folder / name).stat().st_size for name in sources},
            float_ops=float_operators(folder / onnx_filename(EPOCH_VIT, "int8")),
        )


def quantize_pair(folder: Path, method: str, config, feeds: dict[str, dict]) -> None:
    """Quantize both fp32 models of ``folder`` next to them and check that they load.

    ``feeds`` maps each model to its calibration inputs (input name → array).
    """
    for model in (EPOCH_VIT, SEQUENCE):
        target = folder / onnx_filename(model, "int8")
        quantize(folder / onnx_filename(model, "fp32"), target, method, feeds[model])
        _set_metadata(target, _metadata(config, model, method))
        OnnxModel(folder, model, "int8", config)
