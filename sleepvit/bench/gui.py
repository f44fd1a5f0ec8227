"""``sleepvit bench gui``: the desktop app on an 8-h night — page flips, first page, memory.

The night (simulated hospital night, seed 7, ~220 MB) is written first; the app then runs in
a fresh Python process (``python -m sleepvit.gui.bench``, offscreen unless a display is
chosen with ``QT_QPA_PLATFORM``) with the same 2 CPU threads as ``bench night``, so its
memory is its own. This module only launches and reports: nothing outside the GUI package
imports it (DESIGN.md).

Goals: page flip ≤ 30 ms median at 1920 × 1080, first page ≤ 2 s after open, memory ≤ 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from sleepvit.batch import NUMPY_THREAD_VARIABLES
from sleepvit.bench import machine_description, markdown_table, work_folder, write_results

SEED = 7
THREADS = 2
GOAL_FLIP_MS = 30.0
GOAL_FIRST_PAGE_S = 2.0
GOAL_RSS_MB = 1500.0


def _night(workdir: Path, hours: float) -> Path:
    from sleepvit.synth import simulate_night, write_night

    edf = workdir / f"gui-night-{hours:g}h.edf"
    if not edf.exists():
        write_night(simulate_night(hours=hours, seed=SEED), edf)
    return edf


def _measure(edf: Path, repeat: int, workdir: Path) -> dict:
    environment = os.environ | {name: str(THREADS) for name in NUMPY_THREAD_VARIABLES}
    environment.setdefault("QT_QPA_PLATFORM", "offscreen")
    # The app's review file and preferences stay in the work folder, not the user's.
    environment |= {
        "XDG_DATA_HOME": str(workdir / "user-data"),
        "XDG_CONFIG_HOME": str(workdir / "user-config"),
    }
    for stale in workdir.glob(f"{edf.stem}.sleepvit.sqlite*"):
        stale.unlink()  # measure a first opening, scoring included
    completed = subprocess.run(
        [sys.executable, "-m", "sleepvit.gui.bench", str(edf), str(repeat)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"gui benchmark failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def format_table(result: dict) -> str:
    flips = result["flip_ms"]
    rows = [
        ["app start (imports, empty 1920 × 1080 window)", f"{result['startup_s']:.2f} s"],
        ["open → first page on screen", f"**{result['first_page_s']:.2f} s**"],
        ["open → AI scoring shown (background)", f"{result['scored_s']:.2f} s"],
    ]
    for key, label in (
        ("30s reading", "30-s page, reading (next page prefetched)"),
        ("30s holding", "30-s page, key held (back to back)"),
        ("300s reading", "300-s page, reading"),
        ("300s holding", "300-s page, key held"),
        ("30s holding, heatmap off", "30-s page, key held, heatmap off"),
    ):
        if key not in flips:
            continue
        flip = flips[key]
        rows.append(
            [
                f"page flip, {label}: median / p95 of {flip['n']}",
                f"**{flip['median']:.1f}** / {flip['p95']:.1f} ms",
            ]
        )
    rows += [
        ["memory with the night open and scored (RSS)", f"{result['rss_mb']:.0f} MB"],
        ["peak memory (high-water RSS)", f"**{result['peak_rss_mb']:.0f} MB**"],
    ]
    return markdown_table([("measure", "l"), ("value", "r")], rows)


def goals(result: dict) -> dict[str, bool]:
    return {
        f"page flip <= {GOAL_FLIP_MS:g} ms median (30-s page, key held)": result["flip_ms"][
            "30s holding"
        ]["median"]
        <= GOAL_FLIP_MS,
        f"first page <= {GOAL_FIRST_PAGE_S:g} s": result["first_page_s"] <= GOAL_FIRST_PAGE_S,
        f"peak memory <= {GOAL_RSS_MB:g} MB": result["peak_rss_mb"] <= GOAL_RSS_MB,
    }


def run(args: argparse.Namespace) -> int:
    with work_folder(args.workdir, prefix="sleepvit-bench-gui-") as workdir:
        edf = _night(workdir, args.hours)
        result = _measure(edf, max(1, args.repeat), workdir)
    print(
        f"{args.hours:g}-h simulated hospital night ({result['epochs']} epochs, "
        f"{result['file_mb']:.0f} MB, seed {SEED}), window {result['window'][0]} × "
        f"{result['window'][1]} ({result['platform']}, traces {result['trace_px'][0]} × "
        f"{result['trace_px'][1]} px), {THREADS} threads, demo weights onnx-int8 — "
        f"{machine_description()}"
    )
    print(
        "relevance heatmap "
        + ("on (attention rollout) for every flip" if result.get("heatmap") else "NOT shown")
    )
    print(format_table(result))
    met = goals(result)
    for goal, ok in met.items():
        print(f"{'met' if ok else 'MISSED'}: {goal}")
    write_results(
        args.json,
        {"machine": machine_description(), "hours": args.hours, "gui": result, "goals": met},
    )
    return 0
