"""``sleepvit bench models``: EpochViT size versus CPU speed, to choose the default size.

Times inference (forward) and a training step (forward + backward + AdamW) per epoch image
for a few sizes, with the thread count a 2-core workstation offers, and estimates the minutes
one training pass over the demo corpus (60 simulated nights × 960 epochs) takes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from sleepvit.bench import machine_description, markdown_table, median_seconds, write_results
from sleepvit.models.configs import EpochViTConfig
from sleepvit.models.epoch_vit import EpochViT

SIZES: tuple[tuple[int, int, int], ...] = (
    (64, 4, 4),
    (128, 4, 4),
    (128, 6, 4),
    (192, 4, 4),
    (192, 6, 4),
)
"""(dim, depth, heads) candidates."""
BATCH = 32
THREADS = 2
CORPUS_EPOCHS = 60 * 960
"""Training epoch images of the shipped demo weights: 60 simulated 8-hour nights."""


def measure(dim: int, depth: int, heads: int, repeat: int) -> dict:
    """Parameters, FLOPs and median seconds per epoch image of one EpochViT size."""
    torch.manual_seed(0)
    config = EpochViTConfig(dim=dim, depth=depth, heads=heads)
    model = EpochViT(config)
    images = torch.randint(0, 256, (BATCH, config.height, config.width), dtype=torch.uint8)
    present = torch.ones(BATCH, config.n_slots, dtype=torch.bool)
    labels = torch.randint(0, config.n_classes, (BATCH,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def infer() -> None:
        with torch.inference_mode():
            model(images, present)

    def train_step() -> None:
        logits, _ = model(images, present)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    # CPU seconds next to wall seconds: on a shared machine wall time also counts waiting.
    train_cpu: list[float] = []

    def timed_train_step() -> None:
        start = time.process_time()
        train_step()
        train_cpu.append(time.process_time() - start)

    model.eval()
    forward_s = median_seconds(infer, repeat=repeat) / BATCH
    model.train()
    train_s = median_seconds(timed_train_step, repeat=repeat) / BATCH
    train_cpu_s = statistics.median(train_cpu[-repeat:]) / BATCH
    return {
        "dim": dim,
        "depth": depth,
        "heads": heads,
        "params": model.count_parameters(),
        "weights_mb": model.count_parameters() * 4 / 1e6,
        "gflops_per_epoch": config.flops_per_epoch / 1e9,
        "forward_ms_per_epoch": forward_s * 1e3,
        "train_ms_per_epoch": train_s * 1e3,
        "train_cpu_ms_per_epoch": train_cpu_s * 1e3,
        "train_minutes_per_corpus_pass": CORPUS_EPOCHS * train_s / 60.0,
    }


def format_table(rows: list[dict]) -> str:
    titles = [
        "dim",
        "depth",
        "heads",
        "params",
        "fp32 MB",
        "GFLOPs/epoch",
        "forward ms/epoch",
        "train step ms/epoch",
        "train step CPU ms/epoch",
        f"train min per {CORPUS_EPOCHS:,} epochs",
    ]
    cells = [
        [
            str(r["dim"]),
            str(r["depth"]),
            str(r["heads"]),
            f"{r['params']:,}",
            f"{r['weights_mb']:.1f}",
            f"{r['gflops_per_epoch']:.3f}",
            f"{r['forward_ms_per_epoch']:.2f}",
            f"{r['train_ms_per_epoch']:.2f}",
            f"{r['train_cpu_ms_per_epoch']:.2f}",
            f"{r['train_minutes_per_corpus_pass']:.1f}",
        ]
        for r in rows
    ]
    return markdown_table([(title, "r") for title in titles], cells)


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(THREADS)
    load_before = os.getloadavg()[0]
    rows = [measure(*size, repeat=args.repeat) for size in SIZES]
    load = f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f}"
    print(
        f"EpochViT sizes, batch {BATCH}, {THREADS} torch threads, {load} — {machine_description()}"
    )
    print(format_table(rows))
    summary = {"machine": machine_description(), "load": load, "batch": BATCH}
    write_results(args.json, summary | {"rows": rows})
    return 0
