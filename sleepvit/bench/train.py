"""``sleepvit bench train``: time a short training run and extrapolate the demo-weights run.

Simulates a small corpus (two training nights and one validation night of ``--hours``),
trains one short pass of each stage with the default model size, and turns the seconds of
each phase into per-unit costs (per night simulated or rendered, per training sample, per
epoch embedded, per sequence batch) to estimate the full command of :data:`DEMO_PLAN`.
The short run's fixed costs (warm-up, one validation night per pass) make the estimate an
upper bound; on a shared machine it also grows with the load of the other jobs.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from sleepvit.bench import machine_description, write_results
from sleepvit.train.config import TrainConfig
from sleepvit.train.corpus import build_corpus

DEMO_PLAN = {"train": 60, "val": 10, "test": 20, "passes": 6, "samples_per_pass": 8_000}
"""The demo-weights command's corpus and stage-1 budget (see the README recipe)."""
SHORT_TRAIN, SHORT_VAL = 2, 1
SHORT = TrainConfig(name="bench", passes=1, samples_per_pass=1024, sequence_passes=1)
BENCH_SEEDS = 90_000
"""Seed base of the bench nights, far from any corpus seed range."""


def _sequence_steps(n_nights: int, epochs_per_night: int) -> int:
    """Sequence-model batches per pass, by the rule the trainer uses."""
    from sleepvit.train.loop import sequence_windows_per_pass

    cfg = TrainConfig()
    windows = n_nights * (epochs_per_night - cfg.context + 1)
    return math.ceil(sequence_windows_per_pass(windows, cfg.seq_batch_size) / cfg.seq_batch_size)


def estimate(seconds: dict, simulate_per_night: float, hours: float) -> dict[str, float]:
    """Minutes per phase of the demo run from the short run's phase seconds.

    Examples
    --------
    >>> phases = {"render_cache": 6, "epoch_vit": 46, "embeddings": 25.2, "sequence": 6,
    ...           "calibration": 15}
    >>> round(estimate(phases, 4.0, 7.0)["embeddings"], 1)  # 70 nights × 840 epochs × 10 ms
    9.8
    """
    from sleepvit.train.loop import VAL_IMAGES_PER_PASS

    epochs_per_night = int(hours * 120)
    plan, nights = DEMO_PLAN, SHORT_TRAIN + SHORT_VAL
    forward_s = seconds["embeddings"] / (nights * epochs_per_night)
    short_val_images = min(VAL_IMAGES_PER_PASS, SHORT_VAL * epochs_per_night)
    sample_s = (seconds["epoch_vit"] - short_val_images * forward_s) / SHORT.samples_per_pass
    val_images = min(VAL_IMAGES_PER_PASS, plan["val"] * epochs_per_night)
    passes = plan["passes"]
    minutes = {
        "simulate": simulate_per_night * (plan["train"] + plan["val"] + plan["test"]),
        "render_cache": seconds["render_cache"] / nights * (plan["train"] + plan["val"]),
        "epoch_vit": passes * (plan["samples_per_pass"] * sample_s + val_images * forward_s),
        "embeddings": forward_s * (plan["train"] + plan["val"]) * epochs_per_night,
        "sequence": seconds["sequence"]
        * (_sequence_steps(plan["train"], epochs_per_night) * TrainConfig().sequence_passes)
        / (_sequence_steps(SHORT_TRAIN, epochs_per_night) * SHORT.sequence_passes),
        "calibration": seconds["calibration"] * plan["val"] / SHORT_VAL,
    }
    minutes = {phase: s / 60 for phase, s in minutes.items()}
    minutes["total"] = sum(minutes.values())
    return minutes


def run(args: argparse.Namespace) -> int:
    from sleepvit.train.loop import Trainer

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sleepvit-bench-train-"))
    started = time.perf_counter()
    manifest = build_corpus(
        workdir / "corpus", SHORT_TRAIN, SHORT_VAL, 0, seed_base=BENCH_SEEDS, hours=args.hours
    )
    simulate_per_night = (time.perf_counter() - started) / (SHORT_TRAIN + SHORT_VAL)
    metrics = Trainer(manifest, workdir / "run", SHORT, cache_dir=workdir / "cache").run()
    minutes = estimate(metrics["seconds"], simulate_per_night, args.hours)
    print(f"machine: {machine_description()}")
    print(
        f"short run: {SHORT_TRAIN}+{SHORT_VAL} nights of {args.hours:g} h, "
        f"{SHORT.samples_per_pass} samples; seconds per phase {metrics['seconds']}"
    )
    print(
        f"estimate for {DEMO_PLAN['train']}/{DEMO_PLAN['val']}/{DEMO_PLAN['test']} nights, "
        f"{DEMO_PLAN['passes']} × {DEMO_PLAN['samples_per_pass']} samples:"
    )
    for phase, value in minutes.items():
        print(f"  {phase:<13}{value:7.1f} min")
    write_results(args.json, {"machine": machine_description(), "minutes": minutes})
    return 0
