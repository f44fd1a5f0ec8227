"""Parity of two backends on scored nights: does the int8 model score like the fp32 one?

:func:`compare_backends` scores each night with a reference backend (``torch``, fp32) and a
candidate (``onnx-int8``) — :func:`compare_on_data_set` every scored night of a data set
(``sleepvit parity``) — and reports what a release needs to know: epoch agreement of the
final (sequence) stages, the largest probability difference, Cohen's κ of each against the
expert scoring and its change, and the per-stage F1 changes. The release criterion is
agreement ≥ 98 % and |Δκ| ≤ 0.01 (:attr:`ParityReport.passes`).

Examples
--------
>>> report = compare_on_data_set("corpus/manifest.csv", "models/weights/sleepvit-demo",
...                              split="test")                       # doctest: +SKIP
>>> print(report.format())                                            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepvit.datasets.nights import DataSetError, discover_nights
from sleepvit.hypnogram import STAGES
from sleepvit.metrics.agreement import agreement
from sleepvit.models.backends import load_backend

MIN_AGREEMENT = 0.98
MAX_KAPPA_CHANGE = 0.01


@dataclass(frozen=True)
class ParityReport:
    """Candidate versus reference backend over the same epochs of the same nights."""

    reference: str
    candidate: str
    n_nights: int
    n_epochs: int
    agreement: float
    """Share of epochs whose final stage is the same in both backends."""
    epoch_vit_agreement: float
    """The same for EpochViT alone (before the sequence model)."""
    max_abs_dp: float
    """Largest difference of any final stage probability."""
    kappa_reference: float | None
    kappa_candidate: float | None
    f1_reference: dict[str, float | None]
    f1_candidate: dict[str, float | None]

    @property
    def delta_kappa(self) -> float | None:
        if self.kappa_reference is None or self.kappa_candidate is None:
            return None
        return self.kappa_candidate - self.kappa_reference

    @property
    def passes(self) -> bool:
        """Agreement ≥ 98 % and κ against the truth changed by at most 0.01."""
        delta = self.delta_kappa
        return (
            self.agreement >= MIN_AGREEMENT
            and delta is not None
            and abs(delta) <= (MAX_KAPPA_CHANGE)
        )

    def f1_changes(self) -> dict[str, float | None]:
        """Per-stage F1 of the candidate minus the reference (``None`` if a stage is absent)."""
        return {
            stage: None
            if self.f1_reference[stage] is None or self.f1_candidate[stage] is None
            else self.f1_candidate[stage] - self.f1_reference[stage]
            for stage in STAGES
        }

    def format(self) -> str:
        """Markdown table for the README and the model card."""

        def number(value, digits=3, signed=False):
            return "n/a" if value is None else f"{value:{'+' if signed else ''}.{digits}f}"

        changes = self.f1_changes()
        rows = [
            ("nights / epochs", f"{self.n_nights} / {self.n_epochs}"),
            ("stage agreement (with sequence)", f"{100 * self.agreement:.2f} %"),
            ("stage agreement (EpochViT alone)", f"{100 * self.epoch_vit_agreement:.2f} %"),
            ("max \\|Δp\\|", number(self.max_abs_dp, 4)),
            (f"κ vs truth, {self.reference}", number(self.kappa_reference)),
            (f"κ vs truth, {self.candidate}", number(self.kappa_candidate)),
            ("Δκ", number(self.delta_kappa, signed=True)),
            *((f"ΔF1 {stage}", number(changes[stage], signed=True)) for stage in STAGES),
            ("passes (≥ 98 %, \\|Δκ\\| ≤ 0.01)", "yes" if self.passes else "NO"),
        ]
        lines = [f"| {self.candidate} vs {self.reference} | |", "|---|---:|"]
        return "\n".join([*lines, *(f"| {name} | {value} |" for name, value in rows)])


def compare_on_data_set(
    data: str | Path,
    weights: str | Path | None = None,
    split: str | None = None,
    reference: str = "torch",
    candidate: str = "onnx-int8",
    channel_map: str | Path | None = None,
    threads: int | None = None,
) -> ParityReport:
    """:func:`compare_backends` over the scored nights of ``data`` (folder or manifest CSV).

    With ``split``, only the manifest's nights of that split. Raises
    :class:`~sleepvit.datasets.nights.DataSetError` when no scored night is found.
    """
    records = [r for r in discover_nights(data) if split in (None, r.split)]
    if not records:
        raise DataSetError(f"no scored night (split {split or 'any'}) found", data)
    return compare_backends(
        [(r.edf, r.hypnogram) for r in records],
        weights,
        reference=reference,
        candidate=candidate,
        channel_map=channel_map,
        threads=threads,
    )


def compare_backends(
    nights: Iterable[tuple[str | Path, str | Path]],
    weights: str | Path | None = None,
    reference: str = "torch",
    candidate: str = "onnx-int8",
    channel_map: str | Path | None = None,
    threads: int | None = None,
) -> ParityReport:
    """Score ``(edf_path, hypnogram_path)`` nights with both backends and compare.

    Epochs the expert left unscored count for agreement and |Δp| but not for κ or F1.
    """
    from sleepvit.io import load_study
    from sleepvit.io.hypnograms import read_hypnogram
    from sleepvit.rendering import render_epochs

    ref = load_backend(weights, reference, threads)
    cand = load_backend(weights, candidate, threads)
    truth, stages, vit_agrees, max_dp, n_nights = [], {"ref": [], "cand": []}, [], 0.0, 0
    for edf_path, hypnogram_path in nights:
        study = load_study(edf_path, channel_map=channel_map)
        rendered = render_epochs(study, ref.render_config)
        scores = {
            key: backend.score(rendered.images, rendered.present, rendered.config)
            for key, backend in (("ref", ref), ("cand", cand))
        }
        expert = read_hypnogram(hypnogram_path, study.start, study.duration_s).stages
        n = min(len(expert), len(rendered.images))
        truth.append(expert[:n])
        for key in stages:
            stages[key].append(scores[key].sequence[:n].argmax(axis=1))
        vit_agrees.append(
            scores["ref"].epoch_vit[:n].argmax(axis=1) == scores["cand"].epoch_vit[:n].argmax(1)
        )
        max_dp = max(max_dp, float(np.abs(scores["ref"].sequence - scores["cand"].sequence).max()))
        n_nights += 1
    truth = np.concatenate(truth)
    ref_stages, cand_stages = np.concatenate(stages["ref"]), np.concatenate(stages["cand"])
    ref_metrics, cand_metrics = agreement(truth, ref_stages), agreement(truth, cand_stages)
    return ParityReport(
        reference=reference,
        candidate=candidate,
        n_nights=n_nights,
        n_epochs=int(truth.size),
        agreement=float(np.mean(ref_stages == cand_stages)),
        epoch_vit_agreement=float(np.mean(np.concatenate(vit_agrees))),
        max_abs_dp=max_dp,
        kappa_reference=ref_metrics["kappa"],
        kappa_candidate=cand_metrics["kappa"],
        f1_reference={s: v["f1"] for s, v in ref_metrics["per_stage"].items()},
        f1_candidate={s: v["f1"] for s, v in cand_metrics["per_stage"].items()},
    )
