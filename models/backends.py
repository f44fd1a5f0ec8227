"""Model backends: one interface to run a weights folder, whatever runs it underneath.

``onnx-int8`` (default) and ``onnx-fp32`` run the exported ONNX files with ONNX Runtime and
need no torch; ``torch`` runs the safetensors weights in PyTorch (the ``train`` extra,
:mod:`sleepvit.models.torch_backend`), imported only when it is chosen. The pipeline,
evaluation, GUI and benchmarks all go through :func:`load_backend`, so every backend scores a
night the same way: the same batching, the same stride-1 sliding windows, the same
temperature.

Examples
--------
>>> backend = load_backend("models/weights/sleepvit-demo")                  # doctest: +SKIP
>>> rendered = render_epochs(study, backend.render_config)                  # doctest: +SKIP
>>> scores = backend.score(rendered.images, rendered.present, rendered.config)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepvit.errors import ModelError
from sleepvit.models.artifacts import (
    ArtifactConfig,
    check_render_config,
    default_weights_dir,
    read_config,
)
from sleepvit.models.ood import EmbeddingReference
from sleepvit.models.uncertainty import UncertaintyCalibration
from sleepvit.rendering.config import RenderConfig

BACKEND_NAMES: tuple[str, ...] = ("onnx-int8", "onnx-fp32", "torch")
DEFAULT_BACKEND = "onnx-int8"
WINDOW_BATCH = 256


def sliding_windows(
    embeddings: np.ndarray, context: int, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Every stride-1 window of ``context`` epochs over a night padded by ``context // 2``.

    Returns ``windows [n_windows, context, D]``, ``valid [n_windows, context]`` (False on the
    zero padding, and on epochs ``keep`` leaves out) and the padding. A night shorter than one
    window still gets windows.

    >>> windows, valid, pad = sliding_windows(np.ones((3, 2), np.float32), context=5)
    >>> windows.shape, valid.sum(axis=1).tolist(), pad
    ((3, 5, 2), [3, 3, 3], 2)
    >>> sliding_windows(np.ones((3, 2)), 5, keep=np.array([True, False, True]))[1][0].tolist()
    [False, False, True, False, True]
    """
    n, width = embeddings.shape
    pad = context // 2
    padded = np.zeros((n + 2 * pad, width), np.float32)
    padded[pad : pad + n] = embeddings
    is_real = np.zeros(n + 2 * pad, bool)
    is_real[pad : pad + n] = True if keep is None else np.asarray(keep, bool)
    windows = np.lib.stride_tricks.sliding_window_view(padded, context, axis=0)
    valid = np.lib.stride_tricks.sliding_window_view(is_real, context)
    return windows.transpose(0, 2, 1), valid, pad


def average_windows(probabilities: np.ndarray, n_epochs: int, pad: int) -> np.ndarray:
    """Mean over windows of each epoch's probabilities; ``probabilities`` is ``[W, L, C]``.

    Position ``p`` of window ``j`` is padded epoch ``j + p``.

    >>> p = np.zeros((3, 5, 2)); p[..., 0] = 1
    >>> average_windows(p, n_epochs=3, pad=2)[:, 0].tolist()
    [1.0, 1.0, 1.0]
    """
    n_windows, context, n_classes = probabilities.shape
    total = np.zeros((n_windows + context - 1, n_classes))
    votes = np.zeros(n_windows + context - 1)
    for position in range(context):
        total[position : position + n_windows] += probabilities[:, position]
        votes[position : position + n_windows] += 1
    return (total[pad : pad + n_epochs] / votes[pad : pad + n_epochs, None]).astype(np.float32)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities of ``logits / temperature`` along the last axis.

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    >>> round(softmax(np.array([[0.0, 2.0]]), temperature=2.0)[0, 1].item(), 4)  # 1 / (1 + e⁻¹)
    0.7311
    """
    z = np.asarray(logits, np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return (z / z.sum(axis=-1, keepdims=True)).astype(np.float32)


def window_probabilities(
    run_windows: Callable[[np.ndarray, np.ndarray], np.ndarray],
    embeddings: np.ndarray,
    context: int,
    n_classes: int,
    temperature: float = 1.0,
    batch_size: int = WINDOW_BATCH,
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """Stage probabilities ``[n, n_classes]`` of a night's embeddings ``[n, D]``, in context.

    Every stride-1 window of ``context`` epochs (:func:`sliding_windows`) goes through
    ``run_windows(windows, valid) -> logits [W, context, n_classes]`` in batches of
    ``batch_size`` windows; logits are divided by ``temperature`` before softmax, and each
    epoch's probabilities are averaged over the windows that contain it. Every backend and the
    torch training loop score a night through this one function.

    ``keep`` (bool ``[n]``) leaves epochs out of every window's context: epochs without data
    (a gap in the recording) or without a readable EEG. They stay in place, so the epochs
    around them keep their true distance in time, and their own probabilities are ``NaN``.

    >>> window_probabilities(lambda w, v: np.zeros((*v.shape, 2)), np.ones((3, 4)), 5, 2)
    array([[0.5, 0.5],
           [0.5, 0.5],
           [0.5, 0.5]], dtype=float32)
    >>> keep = np.array([True, False, True])
    >>> window_probabilities(lambda w, v: np.zeros((*v.shape, 2)), np.ones((3, 4)), 5, 2,
    ...                      keep=keep)[:, 0].tolist()
    [0.5, nan, 0.5]
    """
    embeddings = np.asarray(embeddings, np.float32)
    n = len(embeddings)
    if n == 0:
        return np.zeros((0, n_classes), np.float32)
    windows, valid, pad = sliding_windows(embeddings, context, keep)
    # Windows of left-out epochs only are not run: they would inform no kept epoch.
    probabilities = np.full((len(windows), context, n_classes), np.nan, np.float32)
    useful = np.flatnonzero(valid.any(axis=1))
    for i in range(0, len(useful), batch_size):
        batch = useful[i : i + batch_size]
        probabilities[batch] = softmax(
            run_windows(np.ascontiguousarray(windows[batch]), np.ascontiguousarray(valid[batch])),
            temperature,
        )
    averaged = average_windows(probabilities, n, pad)
    if keep is not None:
        averaged[~np.asarray(keep, bool)] = np.nan
    return averaged


@dataclass(frozen=True)
class NightScores:
    """Per-epoch stage probabilities ``[n_epochs, 5]`` of one night, and what they came from."""

    epoch_vit: np.ndarray
    """EpochViT alone (each epoch judged on its own screen), at its calibrated temperature."""
    sequence: np.ndarray
    """With the SequenceTransformer over neighbouring epochs, temperature-calibrated."""
    embeddings: np.ndarray | None = None
    """EpochViT embeddings ``[n_epochs, D]`` the sequence model read."""
    relevance: np.ndarray | None = None
    """Attention rollout ``[n_epochs, n_slots, n_cols]`` when asked for (``relevance=True``)."""
    ood: np.ndarray | None = None
    """Each epoch's distance to the training embeddings (:mod:`sleepvit.models.ood`), NaN where
    not scored; ``None`` when the weights folder was never calibrated."""


class Backend:
    """A loaded weights folder able to score epoch images; see :func:`load_backend`.

    Epoch images come with the :class:`~sleepvit.rendering.config.RenderConfig` they were
    drawn with, and images drawn otherwise than the model was trained on are refused
    (:func:`~sleepvit.models.artifacts.check_render_config`). Subclasses provide the three
    model calls; batching, input checks, sliding windows and temperature live here, once for
    all backends.
    """

    name = ""
    epoch_batch = 64
    """Epoch images per EpochViT call."""

    def __init__(self, folder: Path, config: ArtifactConfig):
        self.folder = folder
        self.config = config
        self.uncertainty = UncertaintyCalibration.load(folder)
        """What ``sleepvit calibrate`` fitted (temperatures, OOD thresholds), or ``None``."""
        self.embedding_reference = EmbeddingReference.load(folder)
        """The training embeddings' statistics for the OOD score, or ``None``."""

    @property
    def model_name(self) -> str:
        return self.config.name

    @property
    def render_config(self) -> RenderConfig:
        """How the images this model reads must be drawn."""
        return self.config.render_config

    @property
    def temperature(self) -> float:
        """The sequence model's temperature: fitted on calibration nights when the folder was
        calibrated (:mod:`sleepvit.models.uncertainty`), else the training one."""
        if self.uncertainty is not None:
            return self.uncertainty.sequence_temperature
        return self.config.temperature

    @property
    def epoch_vit_temperature(self) -> float:
        """EpochViT's own temperature (1 when the folder was never calibrated)."""
        return 1.0 if self.uncertainty is None else self.uncertainty.epoch_vit_temperature

    def epoch_outputs(self, images: np.ndarray, present: np.ndarray, drawn_with: RenderConfig):
        """EpochViT logits ``[n, 5]`` and embeddings ``[n, D]`` of uint8 images ``[n, H, W]``.

        ``present`` is bool ``[n_slots]`` (one montage for the night) or ``[n, n_slots]``;
        ``drawn_with`` is the render config of the images. Raises :class:`ModelError` saying
        what differs when it is not the model's :attr:`render_config`.
        """
        return self._batched(self._epoch_vit, images, present, drawn_with)[:2]

    def epoch_outputs_with_rollout(
        self, images: np.ndarray, present: np.ndarray, drawn_with: RenderConfig
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`epoch_outputs` and :meth:`attention` of the same images in one forward pass.

        The rollout is a by-product of the attention the stages are computed from, so a
        night's relevance maps cost little more than scoring it.
        """
        return self._batched(self._epoch_vit_with_rollout, images, present, drawn_with)

    def _batched(self, run, images, present, drawn_with) -> tuple[np.ndarray, ...]:
        """``run`` over batches of :attr:`epoch_batch` checked images, outputs concatenated.

        No image gives empty logits, embeddings and rollout (as many as ``run`` returns).
        """
        images, present = self._checked(images, present, drawn_with)
        parts = [
            run(images[i : i + self.epoch_batch], present[i : i + self.epoch_batch])
            for i in range(0, len(images), self.epoch_batch)
        ]
        if parts:
            return tuple(np.concatenate(outputs) for outputs in zip(*parts, strict=True))
        vit = self.config.epoch_vit
        return (
            np.zeros((0, vit.n_classes), np.float32),
            np.zeros((0, vit.dim), np.float32),
            np.zeros((0, vit.n_slots, vit.n_cols), np.float32),
        )

    def attention(
        self, images: np.ndarray, present: np.ndarray, drawn_with: RenderConfig
    ) -> np.ndarray:
        """Attention rollout ``[n, n_slots, n_cols]`` of each epoch: what the CLS token read.

        Each map sums to 1 over signal × 2-s column; absent slots are exactly 0. For heatmaps
        of the few epochs on screen (the whole night works, in batches). Arguments as for
        :meth:`epoch_outputs`.
        """
        return self.epoch_outputs_with_rollout(images, present, drawn_with)[2]

    def gradient_relevance(
        self, images: np.ndarray, present: np.ndarray, drawn_with: RenderConfig
    ) -> np.ndarray:
        """Gradient-weighted attention relevance ``[n, n_slots, n_cols]`` (Chefer et al. 2021)
        of the stage EpochViT chooses for each epoch; each map sums to 1, absent slots are 0.

        A forward and an explicit backward pass per epoch (about three forward passes of
        cost): for the epochs on screen. The ONNX backends run
        ``epoch_vit_relevance.fp32.onnx`` (:mod:`sleepvit.models.gradient_relevance`).
        """
        return self._batched(self._relevance, images, present, drawn_with)[1]

    def sequence_probabilities(
        self, embeddings: np.ndarray, keep: np.ndarray | None = None
    ) -> np.ndarray:
        """Calibrated stage probabilities ``[n, 5]`` of a whole night's embeddings ``[n, D]``.

        :func:`window_probabilities` with this backend's sequence model and the temperature
        of ``config.json``; ``keep`` leaves epochs out of the context (their rows are NaN).
        """
        sequence = self.config.sequence
        return window_probabilities(
            self._sequence,
            embeddings,
            sequence.context,
            sequence.n_classes,
            self.temperature,
            keep=keep,
        )

    def window_logits(self, windows: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Sequence-model logits ``[W, L, 5]`` of ``windows`` ``[W, L, D]`` of embeddings.

        ``valid`` (bool ``[W, L]``) marks real epochs; the others are masked, as the padding
        beyond a night's ends is. For what-if questions such as "without this neighbour"
        (:mod:`sleepvit.explain`); a night is scored with :meth:`sequence_probabilities`.
        """
        return self._sequence(
            np.ascontiguousarray(windows, np.float32), np.ascontiguousarray(valid, bool)
        )

    def score(
        self,
        images: np.ndarray,
        present: np.ndarray,
        drawn_with: RenderConfig,
        relevance: bool = False,
    ) -> NightScores:
        """Probabilities of every epoch image of one night, alone and in context.

        Arguments as for :meth:`epoch_outputs`; ``relevance`` also keeps each epoch's
        attention rollout (from the same forward pass).
        """
        if relevance:
            logits, embeddings, rollout = self.epoch_outputs_with_rollout(
                images, present, drawn_with
            )
        else:
            (logits, embeddings), rollout = self.epoch_outputs(images, present, drawn_with), None
        return NightScores(
            softmax(logits, self.epoch_vit_temperature),
            self.sequence_probabilities(embeddings),
            embeddings,
            rollout,
        )

    def _checked(self, images: np.ndarray, present: np.ndarray, drawn_with: RenderConfig):
        check_render_config(self.render_config, drawn_with, self.folder)
        vit = self.config.epoch_vit
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != (vit.height, vit.width):
            raise ModelError(
                f"epoch images of shape {images.shape[1:]} do not fit model "
                f"{self.model_name!r}, which reads {vit.height}×{vit.width} images; render them "
                "with the model's render_config",
                self.folder,
            )
        present = np.asarray(present, bool)
        present = np.ascontiguousarray(np.broadcast_to(present, (len(images), vit.n_slots)))
        return np.ascontiguousarray(images, np.uint8), present

    def _epoch_vit(self, images: np.ndarray, present: np.ndarray):
        raise NotImplementedError

    def _epoch_vit_with_rollout(self, images: np.ndarray, present: np.ndarray):
        raise NotImplementedError

    def _relevance(self, images: np.ndarray, present: np.ndarray):
        raise NotImplementedError

    def _sequence(self, windows: np.ndarray, valid: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxBackend(Backend):
    """The exported ONNX files of a weights folder in ONNX Runtime (no torch)."""

    epoch_batch = 16
    """ONNX Runtime is fastest per epoch at 16 (int8 0.83 ms vs 1.02 ms at 64 on 2 cores): the
    attention scores of a batch (4 heads × 166² floats per epoch) then stay in cache."""

    def __init__(self, folder: Path, config: ArtifactConfig, precision: str, threads=None):
        from sleepvit.models.onnx_runtime import EPOCH_VIT, SEQUENCE, OnnxModel

        super().__init__(folder, config)
        self.name = f"onnx-{precision}"
        self.epoch_vit = OnnxModel(folder, EPOCH_VIT, precision, config, threads)
        self.sequence = OnnxModel(folder, SEQUENCE, precision, config, threads)
        self._threads = threads
        self._relevance_model = None
        """``epoch_vit_relevance.fp32.onnx``, opened the first time a map is asked for."""

    def _epoch_vit(self, images, present):
        feed = {"images": images, "present": present}
        return self.epoch_vit.run(feed, ["logits", "embedding"])

    def _epoch_vit_with_rollout(self, images, present):
        return self.epoch_vit.run({"images": images, "present": present})

    def _relevance(self, images, present):
        from sleepvit.models.onnx_runtime import RELEVANCE, OnnxModel

        if self._relevance_model is None:
            self._relevance_model = OnnxModel(
                self.folder, RELEVANCE, "fp32", self.config, self._threads
            )
        return self._relevance_model.run({"images": images, "present": present})

    def _sequence(self, windows, valid):
        return self.sequence.run({"embeddings": windows, "valid": valid})[0]


def load_backend(
    weights_dir: str | Path | None = None, name: str = DEFAULT_BACKEND, threads: int | None = None
) -> Backend:
    """The models of ``weights_dir`` (default: the shipped demo weights) run by ``name``.

    ``threads`` sets the CPU threads of the backend (default: the runtime's own choice).
    Raises :class:`ModelError` for an unknown backend or a missing, corrupt or mismatched file.

    >>> try:
    ...     load_backend("models/weights/sleepvit-demo", "onnx-int16")
    ... except ModelError as error:
    ...     print(error)
    unknown backend 'onnx-int16'; choose onnx-int8, onnx-fp32 or torch
    """
    if name not in BACKEND_NAMES:
        raise ModelError(
            f"unknown backend {name!r}; choose {', '.join(BACKEND_NAMES[:-1])} or "
            f"{BACKEND_NAMES[-1]}",
            settings=("backend",),
        )
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    config = read_config(folder)
    if name == "torch":
        # The one way from the scoring runtime to torch: only a chosen torch backend opens it.
        try:
            from sleepvit.models.torch_backend import TorchBackend
        except ImportError as exc:
            raise ModelError(
                f"backend torch needs {exc.name or 'PyTorch'}, which is not installed; install "
                "the train extra (pip install 'sleepvit[train]') or score with onnx-int8",
                folder,
                settings=("backend",),
            ) from exc
        return TorchBackend(folder, config, threads)
    return OnnxBackend(folder, config, name.removeprefix("onnx-"), threads)
