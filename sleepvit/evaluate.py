"""Evaluating a weights folder on scored nights: the numbers behind the model card.

Each night is scored twice — EpochViT alone and with the SequenceTransformer — and compared
with its hypnogram by :func:`sleepvit.metrics.agreement.agreement`, the one metrics module
used everywhere. Metrics pool all epochs of all nights (as the literature reports them),
and a per-night table shows how much nights differ.

Beside agreement, what a technician's time depends on: the *review efficiency*
(:mod:`sleepvit.metrics.review_efficiency`: κ after correcting the k % most doubtful epochs,
ordered by the review queue's :data:`~sleepvit.explain.review.DEFAULT_RANKING`, and the share
needed for κ 0.80 and 0.90) per night and pooled; how well every ranking signal finds the
errors (:mod:`sleepvit.metrics.error_detection`); the calibration (ECE) of both outputs; and,
for a calibrated weights folder, the out-of-distribution verdict of every night
(:mod:`sleepvit.models.ood`) and how often it fires on nights scored badly and well.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sleepvit.datasets.cache import RenderCache, default_cache_dir
from sleepvit.datasets.nights import DataSetError, discover_nights, trim_wake
from sleepvit.explain.review import DEFAULT_RANKING, RANKINGS, doubt
from sleepvit.io.atomic import atomic_open
from sleepvit.metrics.agreement import agreement, confusion_matrix_png
from sleepvit.metrics.calibration import expected_calibration_error
from sleepvit.metrics.error_detection import error_auroc
from sleepvit.metrics.review_efficiency import (
    KAPPA_GOALS,
    format_review_table,
    goal_key,
    review_fraction,
    review_table,
)
from sleepvit.models.backends import load_backend
from sleepvit.models.ood import ood_verdict

OUTPUTS: tuple[str, ...] = ("epoch_vit", "with_sequence")
GRADIENT_EVERY = 10
"""Every 10th epoch of each night gets a gradient relevance map too (three forward passes of
cost each): enough for the per-stage table of the model card."""
"""The two scorings compared: EpochViT alone, and with the sequence model."""

PER_NIGHT_COLUMNS = (
    "night",
    "subject",
    "epochs",
    "kappa_epoch_vit",
    "macro_f1_epoch_vit",
    "accuracy_epoch_vit",
    "kappa_with_sequence",
    "macro_f1_with_sequence",
    "accuracy_with_sequence",
    "review_for_kappa_080",
    "review_for_kappa_090",
    "ood_score",
    "ood_fired",
)
BAD_KAPPA, GOOD_KAPPA = 0.5, 0.7
"""The out-of-distribution warning should fire on nights below κ 0.5 and stay quiet from 0.7."""


@dataclass(frozen=True)
class Evaluation:
    """Pooled metrics per output, per-night rows, and where the files went (if anywhere)."""

    metrics: dict
    per_night: list[dict]
    out: Path | None

    def format(self) -> str:
        """Plain-text table for the terminal."""
        lines = [f"{'output':<15}{'κ':>7}{'macro-F1':>10}{'accuracy':>10}  per-stage F1"]
        for key in OUTPUTS:
            m = self.metrics[key]
            stages = " ".join(
                f"{name}={format_score(v['f1'])}" for name, v in m["per_stage"].items()
            )
            lines.append(
                f"{key:<15}{format_score(m['kappa']):>7}{format_score(m['macro_f1']):>10}"
                f"{format_score(m['accuracy']):>10}  {stages}"
            )
        lines.append(
            f"{self.metrics['n_nights']} nights, {self.metrics['with_sequence']['n_epochs']} "
            f"scored epochs; ECE (15 bins) with sequence: {format_score(self.metrics['ece'])}, "
            f"EpochViT alone: {format_score(self.metrics['ece_epoch_vit'])}"
        )
        lines += ["", f"review efficiency (most doubtful first, ranking {DEFAULT_RANKING}):"]
        lines.append(format_review_table(self.metrics["review_efficiency"]))
        lines += ["", f"{'ranking signal':<26}{'AUROC of errors':>16}{'review→κ0.90':>14}"]
        for name, row in self.metrics["rankings"].items():
            lines.append(
                f"{name:<26}{format_score(row['auroc']):>16}{100 * row[goal_key(0.9)]:>12.1f} %"
            )
        ood = self.metrics["ood"]
        if ood is not None:
            lines.append(
                f"\nout-of-distribution warning (threshold {ood['threshold']:.2f}): fired on "
                f"{ood['fired']} of {self.metrics['n_nights']} nights; on nights with κ < "
                f"{BAD_KAPPA}: {_rate(ood['fire_rate_bad'])}, quiet on nights with κ ≥ "
                f"{GOOD_KAPPA}: {_rate(ood['quiet_rate_good'])}"
            )
        return "\n".join(lines)


def _rate(rate: dict) -> str:
    return f"{rate['count']} of {rate['nights']}" if rate["nights"] else "no such night"


def format_score(value: float | None) -> str:
    """A metric with 3 decimals, or ``n/a`` when undefined (e.g. κ of a one-stage night).

    >>> format_score(0.81234), format_score(None)
    ('0.812', 'n/a')
    """
    return "n/a" if value is None else f"{value:.3f}"


def evaluate(
    weights: str | Path | None,
    data: str | Path,
    out: str | Path | None = None,
    split: str | None = None,
    backend: str = "torch",
    cache_dir: str | Path | None = None,
    channel_map: str | Path | None = None,
    trim_wake_minutes: float | None = None,
) -> Evaluation:
    """Score every night of ``data`` (folder or manifest; optionally one ``split``) and compare.

    ``trim_wake_minutes`` drops wake far from sleep as training did (see
    :func:`~sleepvit.datasets.nights.trim_wake`). ``backend`` defaults to ``torch``: freshly
    trained weights have no ONNX files yet.
    With ``out``, writes ``evaluation.json`` (pooled metrics incl. confusion matrices),
    ``confusion_epoch_vit.png``, ``confusion_with_sequence.png`` and ``per_night.csv``.

    Examples
    --------
    >>> result = evaluate("models/weights/sleepvit-demo", "corpus/manifest.csv",
    ...                   out="eval", split="test")  # doctest: +SKIP
    >>> result.metrics["with_sequence"]["kappa"]    # doctest: +SKIP
    0.81
    """
    records = discover_nights(data)
    if split is not None:
        records = [r for r in records if r.split == split]
        if not records:
            raise DataSetError(
                f"no night in split {split!r}; check the manifest's split column", data
            )
    scorer = load_backend(weights, backend)
    cache = RenderCache(cache_dir or default_cache_dir(), scorer.render_config, channel_map)

    truths, predicted, sequence_probs, per_night = [], {k: [] for k in OUTPUTS}, [], []
    alone_probs, ood_verdicts = [], []
    signal_relevance, gradient_relevance, gradient_truth = [], [], []
    for record in tqdm(records, desc="evaluate", unit="night"):
        night = cache.load(record)
        labels = trim_wake(night.labels, trim_wake_minutes)
        # A private copy: torch refuses to wrap the read-only cache memory map.
        scores = scorer.score(np.array(night.images), night.present, cache.config, relevance=True)
        row = {"night": record.name, "subject": record.subject, "epochs": len(night)}
        for key, probs in zip(OUTPUTS, (scores.epoch_vit, scores.sequence), strict=True):
            pred = probs.argmax(axis=1)
            predicted[key].append(pred)
            if (labels >= 0).any():
                m = agreement(labels, pred)
                row |= {
                    f"kappa_{key}": m["kappa"],
                    f"macro_f1_{key}": m["macro_f1"],
                    f"accuracy_{key}": m["accuracy"],
                }
        truths.append(labels)
        sequence_probs.append(scores.sequence)
        alone_probs.append(scores.epoch_vit)
        if (labels >= 0).any():
            row |= {
                goal_key(goal): review_fraction(
                    labels,
                    predicted["with_sequence"][-1],
                    doubt(scores.sequence, scores.epoch_vit),
                    goal,
                )
                for goal in KAPPA_GOALS
            }
        if scorer.embedding_reference is not None and scorer.uncertainty is not None:
            verdict, _ = ood_verdict(
                scorer.embedding_reference,
                scorer.uncertainty.ood_night_threshold,
                scorer.uncertainty.ood_epoch_threshold,
                scores.embeddings,
                np.ones(len(night), bool),
            )
            row |= {"ood_score": verdict.score, "ood_fired": verdict.fired}
            ood_verdicts.append((verdict, row.get("kappa_with_sequence")))
        signal_relevance.append(scores.relevance.sum(axis=2))
        sample = np.arange(0, len(night), GRADIENT_EVERY)
        gradient_relevance.append(
            scorer.gradient_relevance(
                np.array(night.images[sample]), night.present, cache.config
            ).sum(axis=2)
        )
        gradient_truth.append(labels[sample])
        per_night.append(row)

    truth = np.concatenate(truths)
    metrics = {key: agreement(truth, np.concatenate(predicted[key])) for key in OUTPUTS}
    scored = [t >= 0 for t in truths]
    nights = {
        row["night"]: [(t[k], p[k], doubt(s, a)[k])]
        for row, t, p, s, a, k in zip(
            per_night,
            truths,
            predicted["with_sequence"],
            sequence_probs,
            alone_probs,
            scored,
            strict=True,
        )
        if k.any()
    }
    sequence, alone = np.concatenate(sequence_probs), np.concatenate(alone_probs)
    pooled_prediction = np.concatenate(predicted["with_sequence"])
    metrics |= {
        "n_nights": len(records),
        "ece": expected_calibration_error(sequence, truth),
        "ece_epoch_vit": expected_calibration_error(alone, truth),
        "temperatures": {"sequence": scorer.temperature, "epoch_vit": scorer.epoch_vit_temperature},
        "review_ranking": DEFAULT_RANKING,
        "review_efficiency": review_table(nights),
        "rankings": {
            name: {
                "auroc": error_auroc(truth, pooled_prediction, doubt(sequence, alone, name)),
                **{
                    goal_key(goal): review_fraction(
                        truth, pooled_prediction, doubt(sequence, alone, name), goal
                    )
                    for goal in KAPPA_GOALS
                },
            }
            for name in RANKINGS
        },
        "ood": ood_rates(ood_verdicts),
        "model": scorer.model_name,
        "backend": scorer.name,
        "data": str(data),
        "split": split or "all",
        "trim_wake_minutes": trim_wake_minutes,
        "relevance_by_stage": {
            "rollout": relevance_by_stage(
                np.concatenate(signal_relevance), truth, scorer.render_config.slots
            ),
            "gradient": relevance_by_stage(
                np.concatenate(gradient_relevance),
                np.concatenate(gradient_truth),
                scorer.render_config.slots,
            ),
        },
    }
    if out is not None:
        out = Path(out)
        _write(metrics, per_night, out)
    return Evaluation(metrics, per_night, out)


def ood_rates(verdicts: list) -> dict | None:
    """How often the OOD warning fired, overall and on nights scored badly (κ < 0.5, where it
    should) and well (κ ≥ 0.7, where it should not); ``None`` for an uncalibrated folder.

    ``verdicts``: ``(OodVerdict, κ of the night or None)`` per night.
    """
    if not verdicts:
        return None

    def rate(chosen: list[bool], want: bool) -> dict:
        count = sum(fired == want for fired in chosen)
        return {
            "count": count,
            "nights": len(chosen),
            "rate": count / len(chosen) if chosen else None,
        }

    bad = [v.fired for v, kappa in verdicts if kappa is not None and kappa < BAD_KAPPA]
    good = [v.fired for v, kappa in verdicts if kappa is not None and kappa >= GOOD_KAPPA]
    return {
        "threshold": verdicts[0][0].threshold,
        "fired": sum(v.fired for v, _ in verdicts),
        "fire_rate_bad": rate(bad, True),
        "quiet_rate_good": rate(good, False),
    }


def relevance_by_stage(per_signal: np.ndarray, truth: np.ndarray, slots) -> dict:
    """Mean relevance share of each signal over the epochs of each true stage.

    ``per_signal``: ``[n, slots]`` (each epoch's relevance grid summed over time); ``truth``:
    the expert's stage codes (``UNS`` epochs are left out). A stage without epochs is absent.

    >>> relevance_by_stage(np.array([[0.8, 0.2], [0.4, 0.6]]), np.array([2, 2]), ("A", "B"))
    {'N2': {'A': 0.6, 'B': 0.4, 'epochs': 2}}
    """
    from sleepvit.hypnogram import STAGES

    table = {}
    for code, stage in enumerate(STAGES):
        chosen = truth == code
        if chosen.any():
            means = per_signal[chosen].mean(axis=0)
            table[stage] = {slot: round(float(v), 4) for slot, v in zip(slots, means, strict=True)}
            table[stage]["epochs"] = int(chosen.sum())
    return table


def _write(metrics: dict, per_night: list[dict], out: Path) -> None:
    with atomic_open(out / "evaluation.json", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
    for key, title in zip(OUTPUTS, ("EpochViT alone", "EpochViT + sequence"), strict=True):
        m = metrics[key]
        confusion_matrix_png(
            m["confusion_matrix"],
            out / f"confusion_{key}.png",
            title=f"{title}: κ = {format_score(m['kappa'])}, n = {m['n_epochs']} epochs",
        )
    with atomic_open(out / "per_night.csv", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=PER_NIGHT_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(per_night)
