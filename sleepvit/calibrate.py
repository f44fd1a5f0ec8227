"""``sleepvit calibrate``: fit a weights folder's uncertainty on nights it is not tested on.

Two data sets, neither of them test nights:

- **reference nights**: nights the weights were trained on (their ``train`` split). Their
  EpochViT embeddings give the training distribution of the out-of-distribution score
  (:class:`~sleepvit.models.ood.EmbeddingReference`) and its per-epoch threshold (the
  :data:`EPOCH_PERCENTILE`-th percentile of the training epochs' scores).
- **calibration nights**: scored nights outside training and testing, ideally recorded
  otherwise than the training nights (other gains, derivations, simulators or labs). On them
  the sequence model's and EpochViT's temperatures are fitted (minimum negative
  log-likelihood, :func:`~sleepvit.metrics.calibration.fit_temperature`), and the per-night
  OOD threshold is placed between the nights scored badly (κ < :data:`BAD_KAPPA`) and those
  scored well (κ ≥ :data:`GOOD_KAPPA`) (:func:`night_threshold`); and on the nights above
  that threshold, whether the sequence model or EpochViT alone stages them better
  (:func:`ood_stage_source`).

Both are written into the weights folder (:data:`~sleepvit.models.uncertainty.UNCERTAINTY_FILE`,
:data:`~sleepvit.models.ood.REFERENCE_FILE`): run it again whenever the weights change.
Nights of a manifest's ``test`` split are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sleepvit.datasets.cache import RenderCache, default_cache_dir
from sleepvit.datasets.nights import DataSetError, NightRecord, discover_nights
from sleepvit.metrics.agreement import agreement
from sleepvit.metrics.calibration import (
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
)
from sleepvit.models.backends import (
    Backend,
    average_windows,
    load_backend,
    sliding_windows,
    softmax,
)
from sleepvit.models.ood import EmbeddingReference
from sleepvit.models.uncertainty import (
    STAGES_FROM_EPOCH_VIT,
    STAGES_FROM_SEQUENCE,
    UncertaintyCalibration,
)

BAD_KAPPA = 0.5
"""Nights scored below this κ should raise the out-of-distribution warning."""
GOOD_KAPPA = 0.7
"""Nights scored at or above this κ should not."""
STAGE_SOURCE_MARGIN = 0.05
"""κ by which EpochViT alone must beat the sequence model on the calibration nights that
fired before it stages such nights: a few nights decide it, and a smaller difference is
within what another few nights would change (one-EEG weights: 0.339 against 0.332 on 3
nights, then 0.41 against 0.48 on the real excerpts of dreams-dev)."""
EPOCH_PERCENTILE = 99.0
"""An epoch is unusual when it lies farther from the training stages than 99 % of training
epochs do."""


@dataclass(frozen=True)
class ScoredEpochs:
    """What calibration needs of one night: labels, EpochViT logits and embeddings, and the
    sequence model's window logits (so a temperature costs no model run)."""

    name: str
    labels: np.ndarray
    epoch_logits: np.ndarray
    embeddings: np.ndarray
    window_logits: np.ndarray
    pad: int

    def sequence_probabilities(self, temperature: float) -> np.ndarray:
        """The sequence model's probabilities at ``temperature``, as the backend makes them."""
        averaged = average_windows(
            softmax(self.window_logits, temperature), len(self.labels), self.pad
        )
        return averaged


def night_threshold(scores, kappas, bad: float = BAD_KAPPA, good: float = GOOD_KAPPA) -> float:
    """Per-night OOD threshold that best separates the nights with κ < ``bad`` (which should
    fire) from those with κ ≥ ``good`` (which should not): the midpoint between two adjacent
    night scores with the highest balanced accuracy, the widest gap among equals.

    >>> night_threshold([3.0, 3.5, 9.0, 12.0], [0.9, 0.8, 0.3, 0.6])
    6.25
    """
    scores, kappas = np.asarray(scores, float), np.asarray(kappas, float)
    fire, quiet = kappas < bad, kappas >= good
    if not fire.any() or not quiet.any():
        raise DataSetError(
            f"the calibration nights need at least one night with κ < {bad} and one with "
            f"κ ≥ {good} to place the out-of-distribution threshold (their κ: "
            f"{', '.join(f'{k:.2f}' for k in kappas)}); add nights recorded otherwise than "
            "the training nights (other gains, derivations or sources)"
        )
    ordered = np.unique(scores[fire | quiet])
    best = (-1.0, -1.0, float(ordered[-1]))
    for low, high in zip(ordered[:-1], ordered[1:], strict=True):
        threshold = (low + high) / 2
        balanced = ((scores[fire] > threshold).mean() + (scores[quiet] <= threshold).mean()) / 2
        best = max(best, (float(balanced), float(high - low), float(threshold)))
    return best[2]


def ood_stage_source(labels: list, sequence_stages: list, epoch_vit_stages: list) -> dict:
    """Which output stages a night the warning fires on, from the calibration nights that
    fired (per night: true ``labels`` and each output's stages): EpochViT alone where its κ,
    pooled over those nights, beats the sequence model's by :data:`STAGE_SOURCE_MARGIN`; else,
    and when none fired, the sequence model, the output the weights were made to give.

    >>> labels = np.array([0, 1, 2, 3, 4] * 4)
    >>> ood_stage_source([labels], [(labels + 1) % 5], [labels])["chosen"]
    'epoch_vit'
    >>> ood_stage_source([labels], [labels], [(labels + 1) % 5])["chosen"]
    'sequence'
    >>> ood_stage_source([], [], [])["chosen"]
    'sequence'
    """
    if not labels:
        return {"chosen": STAGES_FROM_SEQUENCE, "nights": 0}
    truth = np.concatenate(labels)
    kappas = {}
    for source, stages in (
        (STAGES_FROM_SEQUENCE, sequence_stages),
        (STAGES_FROM_EPOCH_VIT, epoch_vit_stages),
    ):
        kappa = agreement(truth, np.concatenate(stages))["kappa"]
        kappas[source] = 0.0 if kappa is None else float(kappa)
    better = kappas[STAGES_FROM_EPOCH_VIT] - kappas[STAGES_FROM_SEQUENCE] >= STAGE_SOURCE_MARGIN
    chosen = STAGES_FROM_EPOCH_VIT if better else STAGES_FROM_SEQUENCE
    return {"chosen": chosen, "nights": len(labels), "kappa": kappas}


def scored_epochs(scorer: Backend, cache: RenderCache, records: list[NightRecord], what: str):
    """:class:`ScoredEpochs` of every night (rendered through ``cache``)."""
    context = scorer.config.sequence.context
    for record in tqdm(records, desc=what, unit="night"):
        night = cache.load(record)
        logits, embeddings = scorer.epoch_outputs(
            np.array(night.images), night.present, cache.config
        )
        windows, valid, pad = sliding_windows(embeddings, context)
        window_logits = np.concatenate(
            [
                scorer.window_logits(windows[i : i + 256], valid[i : i + 256])
                for i in range(0, len(windows), 256)
            ]
        )
        yield ScoredEpochs(
            record.name, np.asarray(night.labels), logits, embeddings, window_logits, pad
        )


def _records(data, split: str | None, what: str) -> list[NightRecord]:
    records = discover_nights(data)
    if split is not None:
        records = [r for r in records if r.split == split]
    tested = [r.name for r in records if r.split == "test"]
    if tested:
        raise DataSetError(
            f"{what} include test nights ({', '.join(tested[:3])}…); calibrate on nights that "
            "are never tested on (pick another split)",
            data,
        )
    if not records:
        raise DataSetError(f"no {what} found (split {split!r}); check the manifest", data)
    return records


def calibrate(
    weights: str | Path,
    reference: str | Path,
    data: str | Path,
    reference_split: str | None = "train",
    split: str | None = None,
    backend: str = "onnx-int8",
    cache_dir: str | Path | None = None,
    channel_map: str | Path | None = None,
) -> UncertaintyCalibration:
    """Fit and write the uncertainty of ``weights`` (see the module docstring).

    ``reference``: the training nights (folder or manifest, its ``reference_split``);
    ``data``: the calibration nights (optionally one ``split``; never ``test``).
    """
    # Both sets are checked before the first night is scored: a test night fails at once.
    reference_records = _records(reference, reference_split, "reference nights")
    calibration_records = _records(data, split, "calibration nights")
    scorer = load_backend(weights, backend)
    cache = RenderCache(cache_dir or default_cache_dir(), scorer.render_config, channel_map)
    reference_nights = list(scored_epochs(scorer, cache, reference_records, "reference"))
    embedding_reference = EmbeddingReference.fit(
        np.concatenate([n.embeddings for n in reference_nights]),
        np.concatenate([n.labels for n in reference_nights]),
    )
    training_scores = embedding_reference.epoch_scores(
        np.concatenate([n.embeddings for n in reference_nights])
    )
    nights = list(scored_epochs(scorer, cache, calibration_records, "calibrate"))
    labels = np.concatenate([n.labels for n in nights])
    logits = np.concatenate([n.epoch_logits for n in nights])

    def sequence_at(temperature: float) -> np.ndarray:
        return np.concatenate([n.sequence_probabilities(temperature) for n in nights])

    sequence_temperature = fit_temperature(sequence_at, labels)
    epoch_vit_temperature = fit_temperature(lambda t: softmax(logits, t), labels)
    night_scores, kappas, sequence_stages = [], [], []
    for night in nights:
        predicted = night.sequence_probabilities(sequence_temperature).argmax(axis=1)
        kappa = agreement(night.labels, predicted)["kappa"]
        night_scores.append(embedding_reference.night_score(night.embeddings, night.labels >= 0))
        kappas.append(0.0 if kappa is None else kappa)
        sequence_stages.append(predicted)
    threshold = night_threshold(night_scores, kappas)
    fired = [i for i, score in enumerate(night_scores) if score > threshold]
    stage_source = ood_stage_source(
        [nights[i].labels for i in fired],
        [sequence_stages[i] for i in fired],
        [nights[i].epoch_logits.argmax(axis=1) for i in fired],
    )
    calibration = UncertaintyCalibration(
        sequence_temperature=sequence_temperature,
        epoch_vit_temperature=epoch_vit_temperature,
        ood_night_threshold=threshold,
        ood_epoch_threshold=float(np.nanpercentile(training_scores, EPOCH_PERCENTILE)),
        ood_stages_from=stage_source["chosen"],
        fitted_on={
            "reference": str(reference),
            "reference_nights": len(reference_nights),
            "reference_epochs": embedding_reference.epochs,
            "calibration": str(data),
            "calibration_nights": [n.name for n in nights],
            "calibration_epochs": int(np.count_nonzero(labels >= 0)),
            "training_temperature": scorer.config.temperature,
            "sequence": calibration_summary(sequence_at, labels, sequence_temperature),
            "epoch_vit_ece_before": expected_calibration_error(softmax(logits), labels),
            "epoch_vit_ece_after": expected_calibration_error(
                softmax(logits, epoch_vit_temperature), labels
            ),
            "ood_stage_source": stage_source,
            "night_scores": {
                n.name: {"ood": s, "kappa": k}
                for n, s, k in zip(nights, night_scores, kappas, strict=True)
            },
        },
    )
    calibration.save(scorer.folder)
    embedding_reference.save(scorer.folder)
    return calibration
