"""Scoring a night: load → render → EpochViT → SequenceTransformer → Hypnogram.

:func:`score_study` scores a loaded night for ``sleepvit score`` and the GUI (via
:func:`sleepvit.scoring.score_recording`) and the benchmarks; :func:`score_night` does the
same for one file by path, :func:`score_raw` for a night held by an MNE Raw.
The models run in a *backend* of :mod:`sleepvit.models.backends` chosen by name:
``onnx-int8`` (default, ONNX Runtime, no torch), ``onnx-fp32`` or ``torch`` (fp32, needs the
``train`` extra).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from sleepvit.errors import Cancelled
from sleepvit.hypnogram import STAGES, UNS, Hypnogram
from sleepvit.io.quality import assess
from sleepvit.models.adapt import AdaptSettings, adapted_backend
from sleepvit.models.backends import DEFAULT_BACKEND, Backend, NightScores, load_backend, softmax
from sleepvit.models.ood import ood_verdict
from sleepvit.models.uncertainty import STAGES_FROM_EPOCH_VIT, STAGES_FROM_SEQUENCE
from sleepvit.slots import SLOT_NAMES
from sleepvit.study import Study

logger = logging.getLogger(__name__)

RENDER_BLOCK = 100
"""Epochs rendered per progress step: whole 20-epoch renderer chunks, so blocks cost nothing."""
MODEL_BLOCK = 128
"""Epochs per EpochViT progress step: whole batches of every backend (16 and 64)."""

Progress = Callable[[str, int], None]
"""``progress(stage, value)``, how scoring a night reports how far it got.

``render`` and ``epoch_vit`` come after each block of epochs (value: epochs in the block),
``adapt`` (0) before each step of test-time adaptation when it runs;
:func:`sleepvit.scoring.score_recording` adds ``loaded`` first (value: the night's epochs) and
``outputs`` (0) when it writes the files."""


def score_study(
    study: Study,
    scorer: Backend,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    relevance: bool = False,
    adapt: AdaptSettings | None = None,
) -> tuple[Hypnogram, NightScores]:
    """Stages of a loaded night with ``scorer`` (see :func:`load_backend`).

    Signal quality decides what the models read (:mod:`sleepvit.io.quality`): a slot that
    cannot be read in an epoch is masked as absent there, and an epoch left without a
    readable EEG (or without data, in a gap of the recording) is not scored: it is ``UNS``,
    its probabilities are NaN, it is left out of the SequenceTransformer's context, and
    ``hypnogram.reasons`` says why. Quality warnings are logged and kept in
    ``hypnogram.metadata["warnings"]``, the quality summary in ``metadata["quality"]``.
    A calibrated weights folder (``sleepvit calibrate``) also judges how unlike the training
    data the night is (:mod:`sleepvit.models.ood`): ``metadata["ood"]`` holds the score, the
    threshold and the verdict (``None`` for an uncalibrated folder), a night that fires gets
    one warning line, and ``NightScores.ood`` every epoch's score. The hypnogram's stages and
    probabilities are the SequenceTransformer's, except on a night that fired: there they come
    from the output the calibration chose for such nights (``ood_stages_from``, measured on the
    calibration nights that fired), as ``metadata["stages_from"]`` says; ``NightScores`` keeps
    both.

    ``progress`` is called after every block of epochs rendered and run through EpochViT;
    ``cancelled()`` is asked before every block, and :class:`~sleepvit.errors.Cancelled` is
    raised when it says True. The seconds of each stage (``render``, ``epoch_vit``,
    ``sequence``) are kept in ``hypnogram.metadata["timings_s"]``. ``relevance`` also keeps
    every epoch's attention rollout (``NightScores.relevance``, for :mod:`sleepvit.explain`;
    0 for epochs not scored), taken from the same EpochViT pass.

    ``adapt`` first adapts EpochViT to the night's scorable epochs
    (:mod:`sleepvit.models.adapt`, needs torch; ``check`` for cancelling runs before every
    step); ``metadata["adaptation"]`` then says what was done (``None`` without it), and
    ``timings_s`` gains ``adapt``.

    >>> hypnogram, _ = score_study(load_study("night.edf"), load_backend())  # doctest: +SKIP
    >>> sorted(hypnogram.metadata["timings_s"])                              # doctest: +SKIP
    ['epoch_vit', 'render', 'sequence']
    """
    from sleepvit.rendering.render import EpochRenderer

    report = progress or (lambda stage, done: None)

    def check() -> None:
        if cancelled is not None and cancelled():
            raise Cancelled(f"scoring {study.path} was cancelled")

    timings = {}
    started = time.perf_counter()
    renderer = EpochRenderer(study, scorer.render_config)
    n = renderer.n_epochs
    config = renderer.config
    quality = (study.quality if study.quality is not None else assess(study)).notched(
        config.notch_hz
    )
    scorable = quality.scorable
    columns = [SLOT_NAMES.index(slot) for slot in config.slots]
    present = renderer.present[None, :] & quality.usable[:, columns]
    images = np.empty((int(scorable.sum()), config.height, config.width), np.uint8)
    position = np.cumsum(scorable) - 1  # row of each scorable epoch in images
    for first in range(0, n, RENDER_BLOCK):
        check()
        block = np.flatnonzero(scorable[first : first + RENDER_BLOCK]) + first
        if block.size:
            images[position[block]] = renderer.render(block).images
        report("render", min(RENDER_BLOCK, n - first))
    timings["render"] = time.perf_counter() - started

    adaptation = None
    if adapt is not None:
        started = time.perf_counter()

        def adapt_step() -> None:
            check()
            report("adapt", 0)

        scorer, adaptation = adapted_backend(
            scorer, images, present[scorable], config, adapt, adapt_step
        )
        timings["adapt"] = time.perf_counter() - started

    started = time.perf_counter()
    vit = scorer.config.epoch_vit
    logits = np.full((n, vit.n_classes), np.nan, np.float32)
    embeddings = np.zeros((n, vit.dim), np.float32)
    rollout = np.zeros((n, vit.n_slots, vit.n_cols), np.float32) if relevance else None
    for first in range(0, n, MODEL_BLOCK):
        check()
        block = np.flatnonzero(scorable[first : first + MODEL_BLOCK]) + first
        if block.size and relevance:
            logits[block], embeddings[block], rollout[block] = scorer.epoch_outputs_with_rollout(
                images[position[block]], present[block], config
            )
        elif block.size:
            logits[block], embeddings[block] = scorer.epoch_outputs(
                images[position[block]], present[block], config
            )
        report("epoch_vit", min(MODEL_BLOCK, n - first))
    timings["epoch_vit"] = time.perf_counter() - started

    started = time.perf_counter()
    sequence = scorer.sequence_probabilities(embeddings, keep=scorable)
    timings["sequence"] = time.perf_counter() - started
    epoch_vit = softmax(logits, scorer.epoch_vit_temperature)
    warnings = [f"{Path(study.path).name}: {line}" for line in quality.warnings()]
    ood, ood_epochs = None, None
    if scorer.embedding_reference is not None and scorer.uncertainty is not None:
        verdict, ood_epochs = ood_verdict(
            scorer.embedding_reference,
            scorer.uncertainty.ood_night_threshold,
            scorer.uncertainty.ood_epoch_threshold,
            embeddings,
            scorable,
        )
        ood = verdict.to_dict()
        if verdict.fired:
            warnings.append(f"{Path(study.path).name}: {verdict.message()}")
    for line in warnings:
        logger.warning(line)
    foreign = ood is not None and ood["fired"]
    stages_from = scorer.uncertainty.ood_stages_from if foreign else STAGES_FROM_SEQUENCE
    chosen = epoch_vit if stages_from == STAGES_FROM_EPOCH_VIT else sequence
    stages = np.where(scorable, np.nan_to_num(chosen, nan=-1.0).argmax(axis=1), UNS)
    hypnogram = Hypnogram(
        stages=stages,
        start=study.start,
        probabilities=chosen,
        metadata={
            "stages_from": stages_from,
            "model": scorer.model_name,
            "backend": scorer.name,
            "channels": {slot: s.label for slot, s in study.signals.items()},
            "timings_s": timings,
            "calibration": {"mode": config.calibration, "range_factors": renderer.calibration},
            "quality": quality.to_dict(),
            "warnings": warnings,
            "ood": ood,
            "adaptation": adaptation,
        },
        reasons=quality.reasons(),
    )
    return hypnogram, NightScores(epoch_vit, sequence, embeddings, rollout, ood_epochs)


def score_night(
    path: str | Path,
    weights: str | Path | None = None,
    backend: str = DEFAULT_BACKEND,
    channel_map: str | Path | None = None,
    adapt: bool = False,
) -> Hypnogram:
    """Score one recording; the hypnogram carries per-epoch probabilities and confidence.

    ``adapt`` adapts EpochViT to the night first (:mod:`sleepvit.models.adapt`; needs the
    ``train`` extra).

    Examples
    --------
    >>> hyp = score_night("night.edf", weights="runs/demo/weights/sleepvit")  # doctest: +SKIP
    >>> hyp.names()[:3], float(hyp.confidence.mean())                        # doctest: +SKIP
    (['W', 'W', 'N1'], 0.83)
    """
    from sleepvit.io import load_study

    scorer = load_backend(weights, backend)
    settings = AdaptSettings() if adapt else None
    hypnogram, _ = score_study(load_study(path, channel_map=channel_map), scorer, adapt=settings)
    return hypnogram


def score_raw(
    raw,
    channel_map: str | Path | Mapping[str, object] | None = None,
    weights: str | Path | None = None,
    backend: str = DEFAULT_BACKEND,
    adapt: bool = False,
) -> Hypnogram:
    """Score a night held by an ``mne.io.BaseRaw``: the same stages as scoring its file.

    The Raw's channels are mapped as a file's are (labels, referential derivations,
    ``channel_map``, and the same errors; MNE's volts become µV), so a Raw that was filtered,
    cropped or re-referenced is scored as it now is. ``weights`` is a weights folder
    (default: the shipped demo weights), ``backend`` ``onnx-int8``, ``onnx-fp32`` or
    ``torch``; ``adapt`` as for :func:`score_night`. Epoch 0 starts at the Raw's first sample;
    ``start`` is its clock time
    (``meas_date`` + ``first_time``, ``None`` for a Raw without a date).

    Examples
    --------
    A simulated night (:mod:`sleepvit.synth`) read with MNE, scored, then YASA's sleep
    statistics and spindle density in N2 from SleepViT's stages:

    >>> import tempfile, pathlib, mne, yasa
    >>> from sleepvit.synth import simulate_night, write_night
    >>> night = simulate_night(stages=["W"] * 4 + ["N1"] * 2 + ["N2"] * 12 + ["N3"] * 4, seed=5)
    >>> edf, _ = write_night(night, pathlib.Path(tempfile.mkdtemp()) / "night.edf")
    >>> raw = mne.io.read_raw_edf(edf, preload=True, verbose="error")
    >>> hypnogram = score_raw(raw)
    >>> " ".join(hypnogram.names())
    'W W W W N1 N1 N2 N2 N2 N2 N2 N2 N2 N2 N2 N2 N2 N2 N3 N3 N3 N3'
    >>> hyp = hypnogram.to_yasa()
    >>> stats = hyp.sleep_statistics()
    >>> [float(stats[key]) for key in ("TST", "N2", "SOL")]
    [9.0, 6.0, 2.0]
    >>> spindles = yasa.spindles_detect(raw.copy().pick(["C4-M1"]), hypno=hyp, include="N2")
    >>> float(spindles.summary(grp_stage=True).loc[2, "Density"])  # spindles per min of N2
    1.8333333333333333
    """
    from sleepvit.study import Study

    study = Study.from_mne(raw, channel_map)
    settings = AdaptSettings() if adapt else None
    hypnogram, _ = score_study(study, load_backend(weights, backend), adapt=settings)
    if raw.info["meas_date"] is None:
        hypnogram.start = None
    return hypnogram


def summarize(hypnogram: Hypnogram) -> str:
    """Epochs per stage and mean confidence, as printed by ``sleepvit score``.

    Examples
    --------
    >>> p = np.eye(5, dtype=np.float32)[[0, 2, 2, 4]] * 0.8 + 0.04
    >>> print(summarize(Hypnogram(p.argmax(1), probabilities=p)))
    4 epochs (2.0 min), mean confidence 0.84
      W        1   25.0 %
      N1       0    0.0 %
      N2       2   50.0 %
      N3       0    0.0 %
      REM      1   25.0 %
    """
    n = len(hypnogram)
    counts = np.bincount(hypnogram.stages[hypnogram.stages >= 0], minlength=len(STAGES))
    confidence = hypnogram.mean_confidence()
    head = f"{n} epochs ({hypnogram.duration_s / 60:.1f} min)"
    if confidence is not None:
        head += f", mean confidence {confidence:.2f}"
    if hypnogram.metadata.get("adaptation"):
        head += ", EpochViT adapted to the night"
    lines = [head]
    unscored = n - int(counts.sum())
    for name, count in zip((*STAGES, "UNS"), (*counts, unscored), strict=True):
        if name != "UNS" or unscored:
            lines.append(f"  {name:<5}{count:>5}  {100 * count / max(n, 1):>5.1f} %")
    return "\n".join(lines)
