"""``sleepvit bench explain``: what explanations cost, and whether they point at the evidence.

1. **Speed** (ONNX Runtime int8, one thread, as the GUI's page turn runs it): the torch-free
   map of one epoch (render the epoch + its rollout), the neighbour relevance of one epoch, and
   the whole night scored with and without every epoch's grid, interleaved run by run, medians
   and their ratio; captum's Integrated Gradients and Occlusion of one epoch (torch).
2. **Review-queue ranking**: for each ranking signal of :data:`~sleepvit.explain.RANKINGS`,
   and for test-time augmentation (the mean confidence over the night at EEG/EOG gain ×1,
   ×0.8 and ×1.25, which costs two more scorings), how well it ranks the model's errors
   (AUROC) and how many epochs a technician correcting the most doubtful first must review
   before κ reaches 0.80 and 0.90, on simulated nights of seeds and montages outside the demo
   training corpus and on the dreams-dev excerpts.
3. **Planted features** (:mod:`sleepvit.synth.planted`): how often the planted stage gained
   probability (the feature decided something), and how often each method's top patch is the
   planted signal and column.
4. **Agreement and per-stage drivers**: on epochs of each true stage of a held-out simulated
   night, how often rollout, IG and occlusion agree on the top signal, and the mean share of
   each signal by occlusion per stage, set against the AASM rules.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from sleepvit.bench import machine_description, markdown_table, write_results
from sleepvit.explain import RANKINGS, EpochRelevance, doubt, neighbour_relevance, relevance
from sleepvit.hypnogram import STAGES
from sleepvit.metrics.agreement import agreement
from sleepvit.metrics.error_detection import error_auroc
from sleepvit.metrics.review_efficiency import review_fraction

QUEUE_NIGHTS = ((9301, "hospital"), (9302, "sleep-edf"), (9303, "hospital"), (9304, "sleep-edf"))
"""Seeds outside the demo corpus (1000–1089) and the int8 calibration seeds (9001–9101)."""
AGREEMENT_SEED = 9401
PLANTED_SEED = 9501
PER_STAGE = 6
"""Epochs of each true stage whose maps are compared (captum costs seconds per epoch)."""


def _simulated_study(folder: Path, seed: int, style: str, hours: float):
    from sleepvit.io import load_study, read_hypnogram
    from sleepvit.synth import simulate_night, write_night

    edf, hypnogram = write_night(
        simulate_night(hours=hours, seed=seed, style=style), folder / f"n{seed}.edf"
    )
    study = load_study(edf)
    truth = read_hypnogram(hypnogram, study.start, study.duration_s).stages
    return study, truth


def _speed(backend, study, repeat: int) -> dict:
    from sleepvit.pipeline import score_study
    from sleepvit.rendering.render import EpochRenderer

    renderer = EpochRenderer(study, backend.render_config)
    epochs = np.linspace(0, study.n_epochs - 1, 25).astype(int)
    renderer.render([0])
    backend.attention(renderer.render([0]).images, renderer.present, renderer.config)
    backend.gradient_relevance(renderer.render([0]).images, renderer.present, renderer.config)
    map_ms, render_map_ms, gradient_ms = [], [], []
    for epoch in epochs:
        started = time.perf_counter()
        image = renderer.render([int(epoch)]).images
        drawn = time.perf_counter()
        backend.attention(image, renderer.present, renderer.config)
        done = time.perf_counter()
        backend.gradient_relevance(image, renderer.present, renderer.config)
        gradient_ms.append(1e3 * (time.perf_counter() - done))
        map_ms.append(1e3 * (done - drawn))
        render_map_ms.append(1e3 * (done - started))
    plain, explained = [], []
    scores = None
    for _ in range(repeat):  # interleaved, so load on the machine hits both alike
        started = time.perf_counter()
        score_study(study, backend)
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        _, scores = score_study(study, backend, relevance=True)
        explained.append(time.perf_counter() - started)
    neighbour_ms = []
    for epoch in epochs:
        started = time.perf_counter()
        neighbour_relevance(backend, scores.embeddings, int(epoch))
        neighbour_ms.append(1e3 * (time.perf_counter() - started))
    return {
        "map_ms": statistics.median(map_ms),
        "gradient_ms": statistics.median(gradient_ms),
        "render_and_map_ms": statistics.median(render_map_ms),
        "neighbours_ms": statistics.median(neighbour_ms),
        "night_s": statistics.median(plain),
        "night_explained_s": statistics.median(explained),
        "night_overhead": statistics.median(explained) / statistics.median(plain) - 1,
        "epochs": study.n_epochs,
    }


def _captum_speed(torch_backend, study) -> dict:
    from sleepvit.rendering import render_epochs

    rendered = render_epochs(study, torch_backend.render_config, [100, 200, 300])
    result = {}
    for method in ("ig", "occlusion"):
        times = []
        for i in range(len(rendered.images)):
            started = time.perf_counter()
            relevance(
                torch_backend, rendered.images[i : i + 1], rendered.present, rendered.config, method
            )
            times.append(time.perf_counter() - started)
        result[f"{method}_ms"] = 1e3 * statistics.median(times)
    return result


GAINS = (1.0, 0.6, 1.6)
"""Amplifier gains applied to the EEG and EOG of the queue nights: a montage at another gain is
where a fixed-scale screen reader errs (and the queue has errors to rank)."""
DREAMS_DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dreams-dev"
"""Real excerpts for development checks (``../shared``; skipped when absent)."""


def _eeg_eog(study) -> list[str]:
    return [slot for slot in study.signals if slot.startswith(("EEG", "EOG"))]


def _queue_nights(backend, folder: Path, hours: float):
    """``(name, truth, sequence, epoch_vit)`` of the simulated queue nights at every gain."""
    from sleepvit.pipeline import score_study

    for seed, style in QUEUE_NIGHTS:
        study, truth = _simulated_study(folder, seed, style, hours)
        for gain in GAINS:
            scaled = study.with_gain(gain, _eeg_eog(study))
            _, scores = score_study(scaled, backend)
            views = _augmented_sequence(backend, scaled, scores.sequence)
            yield f"simulated ×{gain:g}", truth, scores.sequence, scores.epoch_vit, views


def _dreams_nights(backend):
    import csv

    from sleepvit.io import load_study, read_hypnogram
    from sleepvit.pipeline import score_study

    manifest = DREAMS_DEV / "manifest.csv"
    if not manifest.is_file():
        return
    with manifest.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            study = load_study(DREAMS_DEV / row["edf"])
            truth = read_hypnogram(
                DREAMS_DEV / row["hypnogram"], study.start, study.duration_s
            ).stages
            _, scores = score_study(study, backend)
            views = _augmented_sequence(backend, study, scores.sequence)
            yield "dreams-dev (real)", truth, scores.sequence, scores.epoch_vit, views


TTA_GAINS = (0.8, 1.25)
"""Gains of the test-time-augmented views of the EEG and EOG (a candidate ranking signal)."""
TTA_RANKING = "tta-mean-confidence (3 runs)"


def _augmented_sequence(backend, study, sequence: np.ndarray) -> np.ndarray:
    """Sequence probabilities averaged over the night as it is and at :data:`TTA_GAINS`: the
    test-time-augmentation candidate, which costs two more scorings of the night."""
    import logging

    from sleepvit.pipeline import score_study

    views = [sequence]
    pipeline_log = logging.getLogger("sleepvit.pipeline")
    level = pipeline_log.level
    pipeline_log.setLevel(logging.ERROR)  # a view is no recording: its warnings are noise
    try:
        for gain in TTA_GAINS:
            views.append(score_study(study.with_gain(gain, _eeg_eog(study)), backend)[1].sequence)
    finally:
        pipeline_log.setLevel(level)
    return np.mean(views, axis=0)


def _queue_rankings(backend, folder: Path, hours: float) -> dict:
    pooled: dict[str, list] = {}
    for name, truth, sequence, alone, views in (
        *_queue_nights(backend, folder, hours),
        *_dreams_nights(backend),
    ):
        scored = truth >= 0
        pooled.setdefault(name, []).append(
            (truth[scored], sequence[scored], alone[scored], views[scored])
        )
    result = {}
    for name, nights in pooled.items():
        truth, sequence, alone, views = (np.concatenate([n[i] for n in nights]) for i in range(4))
        predicted = sequence.argmax(axis=1)
        signals = {ranking: doubt(sequence, alone, ranking) for ranking in RANKINGS}
        signals[TTA_RANKING] = 1.0 - np.nan_to_num(views).max(axis=1)
        rows = {}
        for ranking, signal in signals.items():
            rows[ranking] = {
                "auroc": error_auroc(truth, predicted, signal),
                "review_for_kappa_080": review_fraction(truth, predicted, signal, 0.8),
                "review_for_kappa_090": review_fraction(truth, predicted, signal, 0.9),
            }
        result[name] = {
            "epochs": int(len(truth)),
            "errors": int(np.count_nonzero(predicted != truth)),
            "kappa": agreement(truth, predicted)["kappa"],
            "rankings": rows,
        }
    return result


def _top_hits(grids, planted, slots) -> tuple[float, float]:
    from sleepvit.synth.planted import PLANTED_SLOTS

    cells, signals = [], []
    for grid, feature, column in zip(grids, planted.features, planted.columns, strict=True):
        r = EpochRelevance(grid, slots)
        slot, top_column = r.top_cell
        cells.append(slot in PLANTED_SLOTS[feature] and top_column == column)
        signals.append(r.top_signal in PLANTED_SLOTS[feature])
    return float(np.mean(cells)), float(np.mean(signals))


def _planted(backend, torch_backend, n: int) -> dict:
    from sleepvit.synth.planted import planted_epochs

    config = backend.render_config
    features = ["spindle", "rem"] * n
    plain = planted_epochs(["none"] * len(features), config, seed=PLANTED_SEED)
    planted = planted_epochs(features, config, seed=PLANTED_SEED)
    labels = planted.labels
    before = backend.score(plain.images, plain.present, config).epoch_vit
    after = backend.score(planted.images, planted.present, config).epoch_vit
    rows = np.arange(len(labels))
    gained = after[rows, labels] - before[rows, labels]
    result = {"epochs": len(labels), "decisive": float(np.mean(gained > 0.05))}
    for method, runner in (
        ("rollout", backend),
        ("gradient", backend),
        ("ig", torch_backend),
        ("occlusion", torch_backend),
    ):
        if runner is None:
            continue
        target = labels if method in ("ig", "occlusion") else None
        grids = relevance(runner, planted.images, planted.present, config, method, target)
        result[method] = dict(
            zip(("patch", "signal"), _top_hits(grids, planted, config.slots), strict=True)
        )
    return result


def _agreement_and_stages(backend, torch_backend, folder: Path, hours: float) -> dict:
    from sleepvit.rendering import render_epochs

    study, truth = _simulated_study(folder, AGREEMENT_SEED, "hospital", hours)
    rng = np.random.default_rng(AGREEMENT_SEED)
    chosen = np.concatenate(
        [rng.permutation(np.flatnonzero(truth == code))[:PER_STAGE] for code in range(len(STAGES))]
    )
    rendered = render_epochs(study, backend.render_config, chosen)
    args = (rendered.images, rendered.present, rendered.config)
    grids = {
        "rollout": relevance(backend, *args),
        "gradient": relevance(backend, *args, "gradient"),
    }
    if torch_backend is not None:
        grids["ig"] = relevance(torch_backend, *args, "ig", truth[chosen])
        grids["occlusion"] = relevance(torch_backend, *args, "occlusion", truth[chosen])
    top = {m: g.sum(axis=2).argmax(axis=1) for m, g in grids.items()}
    pairs = [
        ("rollout", "ig"),
        ("rollout", "occlusion"),
        ("gradient", "ig"),
        ("gradient", "occlusion"),
        ("ig", "occlusion"),
    ]
    agreement_rates = {
        f"{a} vs {b}": float(np.mean(top[a] == top[b])) for a, b in pairs if a in top and b in top
    }
    stages = {}
    for method, g in grids.items():
        shares = g.sum(axis=2)
        stages[method] = {
            STAGES[code]: {
                slot: float(v)
                for slot, v in zip(
                    backend.render_config.slots,
                    shares[truth[chosen] == code].mean(axis=0),
                    strict=True,
                )
            }
            for code in range(len(STAGES))
            if np.any(truth[chosen] == code)
        }
    return {"epochs": int(len(chosen)), "top_signal_agreement": agreement_rates, "by_stage": stages}


def _stage_table(by_stage: dict) -> str:
    from sleepvit.train.model_card import AASM_FEATURES, AASM_TEXT

    rows = []
    for stage, shares in by_stage.items():
        ranked = sorted(((v, k) for k, v in shares.items()), reverse=True)[:3]
        hits = sum(slot in AASM_FEATURES[stage] for _, slot in ranked)
        rows.append(
            [
                stage,
                ", ".join(f"{slot} {v:.0%}" for v, slot in ranked),
                AASM_TEXT[stage],
                f"{hits} of {min(3, len(AASM_FEATURES[stage]))}",
            ]
        )
    columns = [("stage", "l"), ("top signals", "l"), ("AASM looks at", "l"), ("AASM in top 3", "r")]
    return markdown_table(columns, rows)


def run(args: argparse.Namespace) -> int:
    from sleepvit.models.backends import load_backend

    backend = load_backend(args.weights, "onnx-int8", threads=1)
    try:
        torch_backend = load_backend(args.weights, "torch", threads=1)
    except Exception as exc:  # no torch here: the captum rows are left out, and said so
        print(f"captum rows left out: {exc}")
        torch_backend = None
    load = os.getloadavg()
    print(f"machine: {machine_description()}; load average {load[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="sleepvit-bench-explain-") as tmp:
        folder = Path(args.workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        study, _ = _simulated_study(folder, 7, "hospital", args.hours)
        speed = _speed(backend, study, max(1, args.repeat))
        if torch_backend is not None:
            speed |= _captum_speed(torch_backend, study)
        queue = _queue_rankings(backend, folder, min(args.hours, 4.0))
        planted = _planted(backend, torch_backend, 8)
        maps = _agreement_and_stages(backend, torch_backend, folder, args.hours)
    print(
        markdown_table(
            [("measure", "l"), ("median", "r")],
            [
                ["map of one epoch (rollout, int8, 1 thread)", f"{speed['map_ms']:.1f} ms"],
                ["render + map of one epoch", f"{speed['render_and_map_ms']:.1f} ms"],
                ["gradient map of one epoch (fp32 ONNX)", f"{speed['gradient_ms']:.1f} ms"],
                ["neighbour relevance of one epoch", f"{speed['neighbours_ms']:.1f} ms"],
                [
                    f"score a {args.hours:g}-h night ({speed['epochs']} epochs)",
                    f"{speed['night_s']:.2f} s",
                ],
                ["score it with every epoch's grid", f"{speed['night_explained_s']:.2f} s"],
                ["cost of the night's grids", f"{100 * speed['night_overhead']:+.1f} %"],
                *[
                    [f"captum {m} of one epoch (torch fp32)", f"{speed[f'{m}_ms']:.0f} ms"]
                    for m in ("ig", "occlusion")
                    if f"{m}_ms" in speed
                ],
            ],
        )
    )
    for name, data in queue.items():
        print(
            f"\nreview-queue ranking, {name}: {data['epochs']} epochs, κ {data['kappa']:.3f}, "
            f"{data['errors']} errors"
        )
        print(
            markdown_table(
                [
                    ("ranking", "l"),
                    ("AUROC of errors", "r"),
                    ("for κ 0.80", "r"),
                    ("for κ 0.90", "r"),
                ],
                [
                    [
                        ranking,
                        "n/a" if row["auroc"] is None else f"{row['auroc']:.3f}",
                        f"{100 * row['review_for_kappa_080']:.1f} %",
                        f"{100 * row['review_for_kappa_090']:.1f} %",
                    ]
                    for ranking, row in data["rankings"].items()
                ],
            )
        )
    print(
        f"\nplanted features ({planted['epochs']} epochs): the planted stage gained > 0.05 in "
        f"{100 * planted['decisive']:.0f} %; top patch / top signal on the planted one:"
    )
    for method in ("rollout", "gradient", "ig", "occlusion"):
        if method in planted:
            row = planted[method]
            print(
                f"  {method:<10} patch {100 * row['patch']:5.1f} %  "
                f"signal {100 * row['signal']:5.1f} %"
            )
    print(f"\ntop-signal agreement on {maps['epochs']} epochs ({PER_STAGE} per true stage):")
    for pair, rate in maps["top_signal_agreement"].items():
        print(f"  {pair:<22} {100 * rate:5.1f} %")
    for method, by_stage in maps["by_stage"].items():
        print(f"\nwhat drives each stage ({method}):")
        print(_stage_table(by_stage))
    write_results(
        args.json,
        {
            "machine": machine_description(),
            "load": load,
            "speed": speed,
            "queue": queue,
            "planted": planted,
            "maps": maps,
        },
    )
    return 0
