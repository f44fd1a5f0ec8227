"""``sleepvit bench hypnograms``: write and read time and file size of each hypnogram format.

A model scoring (stages plus probabilities) of a ``--hours`` long night is written and read
back in every format; the table shows medians, so the cost of exporting all four files per
night, and of reading scorings for a whole data set, can be judged.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import numpy as np

from sleepvit.bench import (
    machine_description,
    markdown_table,
    median_seconds,
    work_folder,
    write_results,
)
from sleepvit.hypnogram import Hypnogram
from sleepvit.io.hypnograms import WRITE_FORMATS, read_hypnogram, write_hypnogram
from sleepvit.slots import EPOCH_SECONDS


def model_scoring(hours: float, seed: int = 0) -> Hypnogram:
    """A scoring with runs of 1-20 epochs per stage and Dirichlet probabilities."""
    rng = np.random.default_rng(seed)
    n_epochs = int(hours * 3600 / EPOCH_SECONDS)
    runs = rng.integers(1, 21, size=n_epochs)
    stages = np.repeat(rng.integers(0, 5, size=n_epochs), runs)[:n_epochs]
    probabilities = rng.dirichlet(np.ones(5), size=n_epochs)
    return Hypnogram(stages, start=datetime(2026, 1, 1, 22), probabilities=probabilities)


def measure(hyp: Hypnogram, folder: Path, repeat: int) -> list[dict]:
    rows = []
    for extension, name in WRITE_FORMATS.items():
        path = folder / f"night{extension}"
        write_s = median_seconds(lambda path=path: write_hypnogram(hyp, path), repeat=repeat)
        read_s = median_seconds(lambda path=path: read_hypnogram(path), repeat=repeat)
        rows.append(
            {
                "format": name,
                "epochs": len(hyp),
                "bytes": path.stat().st_size,
                "write_ms": write_s * 1e3,
                "read_ms": read_s * 1e3,
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    titles = ("epochs", "file size", "write ms", "read ms")
    columns = [("format", "l")] + [(title, "r") for title in titles]
    return markdown_table(columns, [_cells(r) for r in rows])


def _cells(r: dict) -> list[str]:
    return [
        r["format"],
        str(r["epochs"]),
        f"{r['bytes'] / 1024:.0f} KiB",
        f"{r['write_ms']:.1f}",
        f"{r['read_ms']:.1f}",
    ]


def run(args: argparse.Namespace) -> int:
    hyp = model_scoring(args.hours)
    with work_folder(args.workdir) as folder:
        rows = measure(hyp, folder, args.repeat)
    print(f"hypnogram formats, {args.hours:g}-h model scoring, median of {args.repeat} runs")
    print(f"machine: {machine_description()}")
    print(format_table(rows))
    write_results(args.json, {"machine": machine_description(), "results": rows})
    return 0
