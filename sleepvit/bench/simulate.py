"""``sleepvit bench simulate``: time to simulate and to write a night, per recording style.

The target is an 8-h hospital night (16 channels, 256/512 Hz) simulated in at most 20 s.
Simulation and EDF writing are timed separately (medians of ``--repeat`` runs); the peak
of memory allocated during one simulation is measured with ``tracemalloc``.
"""

from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path

from sleepvit.bench import (
    machine_description,
    markdown_table,
    median_seconds,
    work_folder,
    write_results,
)
from sleepvit.synth.night import simulate_night, write_night

STYLES = ("hospital", "sleep-edf")


def measure(hours: float, folder: Path, repeat: int) -> list[dict]:
    rows = []
    for style in STYLES:
        simulate_s = median_seconds(lambda style=style: simulate_night(hours, 1, style), repeat)
        tracemalloc.start()
        night = simulate_night(hours, seed=1, style=style)
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        path = folder / f"bench-{style}.edf"
        write_s = median_seconds(lambda night=night, path=path: write_night(night, path), repeat)
        rows.append(
            {
                "style": style,
                "hours": hours,
                "channels": len(night.channels),
                "simulate_s": simulate_s,
                "write_s": write_s,
                "edf_mb": path.stat().st_size / 1e6,
                "peak_alloc_mb": peak_bytes / 1e6,
            }
        )
    return rows


NUMBER_TITLES = ("hours", "channels", "simulate s", "write EDF s", "EDF size", "peak memory")
TABLE_COLUMNS = [("style", "l")] + [(title, "r") for title in NUMBER_TITLES]


def format_table(rows: list[dict]) -> str:
    return markdown_table(TABLE_COLUMNS, [_cells(r) for r in rows])


def _cells(r: dict) -> list[str]:
    return [
        r["style"],
        f"{r['hours']:g}",
        str(r["channels"]),
        f"{r['simulate_s']:.1f}",
        f"{r['write_s']:.1f}",
        f"{r['edf_mb']:.0f} MB",
        f"{r['peak_alloc_mb']:.0f} MB",
    ]


def run(args: argparse.Namespace) -> int:
    with work_folder(args.workdir) as folder:
        rows = measure(args.hours, folder, args.repeat)
    print(
        f"simulate a {args.hours:g}-h night, median of {args.repeat} runs (target: 8-h "
        "hospital night <= 20 s)"
    )
    print(f"machine: {machine_description()}")
    print(format_table(rows))
    write_results(args.json, {"machine": machine_description(), "results": rows})
    return 0
