"""``sleepvit bench render``: a whole simulated hospital night drawn, against matplotlib.

Measured in one run on one machine: the renderer over every epoch of the night, display
filtering included (the pipeline's job), one epoch at screen size from a fresh renderer
(the GUI opening a night at some epoch), and a plain matplotlib drawing of the same layout
(Agg canvas, one axes per row, from the already filtered samples, so matplotlib is spared
the filtering) on a sample of epochs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from sleepvit.bench import machine_description, median_seconds, work_folder, write_results
from sleepvit.rendering import EpochRenderer, RenderConfig, render_epochs
from sleepvit.rendering.render import RowLayout

MATPLOTLIB_SAMPLE = 20
"""Epochs drawn with matplotlib; its cost per epoch is flat, so a sample extrapolates."""
SEED = 1


def _matplotlib_seconds_per_epoch(renderer: EpochRenderer, epochs: np.ndarray) -> float:
    """Plain matplotlib: a figure per epoch, one axes per row, lines at fixed limits."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    config = renderer.config
    rows: list[RowLayout] = list(renderer.rows)
    traces = {
        (row.slot, int(e)): renderer.display_samples(row.slot, int(e))
        for row in rows
        if row.present
        for e in epochs
    }
    start = time.perf_counter()
    for epoch in epochs:
        figure = Figure(figsize=(config.width / 100, config.height / 100), dpi=100)
        canvas = FigureCanvasAgg(figure)
        figure.subplots_adjust(0, 0, 1, 1, hspace=0)
        for ax, row in zip(figure.subplots(len(rows), 1), rows, strict=True):
            ax.set_facecolor("black")
            ax.set_axis_off()
            if not row.present:
                continue
            values, fs = traces[(row.slot, int(epoch))]
            ax.plot(np.arange(values.size) / fs, values, color="white", linewidth=0.6)
            ax.set_xlim(0, config.epoch_s)
            bottom, top = row.value_range
            ax.set_ylim((top, bottom) if row.negative_up else (bottom, top))
        canvas.draw()
        np.asarray(canvas.buffer_rgba())
    return (time.perf_counter() - start) / len(epochs)


def _night_study(hours: float, workdir: Path):
    from sleepvit.io import load_study
    from sleepvit.synth import simulate_night, write_night

    edf_path = workdir / f"bench-hospital-{hours:g}h-seed{SEED}.edf"
    if not edf_path.exists():  # a kept --workdir night is deterministic: reuse it
        print(f"simulating a {hours:g}-h hospital night (seed {SEED}) …", flush=True)
        write_night(simulate_night(hours, seed=SEED, style="hospital"), edf_path)
    return load_study(edf_path)


def _cpu_seconds(fn) -> float:
    """CPU time of one call, all threads: what the work costs when cores are shared."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def run(args: argparse.Namespace) -> int:
    """Print the table (and write ``--json``); the README quotes it with the machine."""
    with work_folder(args.workdir) as workdir:
        study = _night_study(args.hours, workdir)
    n_epochs = study.n_epochs
    present = [slot for slot, on in zip(RenderConfig().slots, study.present, strict=True) if on]

    def night() -> object:
        return render_epochs(study)

    screen = RenderConfig().with_size(1920, 1080)

    def screen_epoch() -> object:
        return EpochRenderer(study, screen, antialias=True).render([n_epochs // 2])

    rows = {
        "render_epochs, whole night (with filtering)": night,
        "screen 1920x1080: open night, draw 1 epoch": screen_epoch,
    }
    timings = {
        name: (median_seconds(fn, repeat=args.repeat), _cpu_seconds(fn))
        for name, fn in rows.items()
    }
    sample = np.linspace(0, n_epochs - 1, min(MATPLOTLIB_SAMPLE, n_epochs)).astype(int)
    mpl_epoch_s = _matplotlib_seconds_per_epoch(EpochRenderer(study), sample)
    night_s = next(iter(timings.values()))[0]

    results = {
        "machine": machine_description(),
        "night_hours": args.hours,
        "epochs": n_epochs,
        "sampling_rates_hz": {slot: study.signals[slot].sfreq for slot in present},
        "seconds_and_cpu_seconds": timings,
        "night_seconds": night_s,
        "epochs_per_second": n_epochs / night_s,
        "matplotlib_ms_per_epoch": 1e3 * mpl_epoch_s,
        "matplotlib_night_seconds_extrapolated": mpl_epoch_s * n_epochs,
        "speedup_per_epoch": mpl_epoch_s * n_epochs / night_s,
    }
    print(f"machine: {results['machine']}")
    print(f"night: {args.hours:g} h, {n_epochs} epochs, {len(present)} slots present")
    rates = ", ".join(f"{slot} {study.signals[slot].sfreq:g}" for slot in present)
    print(f"sampling rates (Hz): {rates}")
    print(f"median of {args.repeat} runs; matplotlib on {sample.size} epochs, extrapolated")
    print(f"{'':44} {'seconds':>8} {'CPU s':>8} {'ms/epoch':>9} {'epochs/s':>9}")
    for name, (wall, cpu) in timings.items():
        epochs = 1 if name.startswith("screen") else n_epochs
        print(f"{name:44} {wall:8.2f} {cpu:8.2f} {1e3 * wall / epochs:9.2f} {epochs / wall:9.0f}")
    mpl_night = mpl_epoch_s * n_epochs
    print(
        f"{'matplotlib Agg, same layout, whole night':44} {mpl_night:8.1f} {'':8} "
        f"{1e3 * mpl_epoch_s:9.1f} {1 / mpl_epoch_s:9.1f}"
    )
    print(f"speed-up per epoch over matplotlib: {results['speedup_per_epoch']:.0f}x")
    write_results(args.json, results)
    return 0
