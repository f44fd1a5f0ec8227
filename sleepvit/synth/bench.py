"""``sleepvit bench simulate``: time to simulate and to write a night, per recording style.

The target is an 8-h hospital night (16 channels, 256/512 Hz) simulated in at most 20 s.
Simulation and EDF writing are timed separately (medians of ``--repeat`` runs); the peak
of memory allocated during one simulation is measured with ``tracemalloc``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import tracemalloc
from pathlib import Path

from sleepvit.bench import machine_description, median_seconds
from sleepvit.io.atomic import atomic_open
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


def format_table(rows: list[dict]) -> str:
    lines = [
        "| style | hours | channels | simulate s | write EDF s | EDF size | peak memory |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['style']} | {r['hours']:g} | {r['channels']} | {r['simulate_s']:.1f} "
        f"| {r['write_s']:.1f} | {r['edf_mb']:.0f} MB | {r['peak_alloc_mb']:.0f} MB |"
        for r in rows
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.workdir or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = measure(args.hours, folder, args.repeat)
    print(
        f"simulate a {args.hours:g}-h night, median of {args.repeat} runs (target: 8-h "
        "hospital night <= 20 s)"
    )
    print(f"machine: {machine_description()}")
    print(format_table(rows))
    if args.json:
        with atomic_open(args.json, "w") as handle:
            json.dump({"machine": machine_description(), "results": rows}, handle, indent=1)
    return 0
