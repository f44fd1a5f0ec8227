"""``sleepvit bench night``: a simulated 8-h hospital night scored end to end, beside YASA.

The night is simulated once. SleepViT then scores it as ``sleepvit score`` does (load →
render → EpochViT → SequenceTransformer → every output file, backend onnx-int8) and YASA's
``SleepStaging`` (its LightGBM classifiers ship inside the yasa package) stages the same file
loaded with MNE (C4-M1, E1-M2 and the chin EMG). Each tool runs in a fresh subprocess of its
own, limited to the same CPU threads, so its peak RSS is its own: one cold run (caches,
lazy initialisation), then ``--repeat`` timed runs whose median per stage is reported, with
the ratio measured in the same benchmark run. The weights are ``--weights`` (default: the
shipped demo weights); without them a freshly initialised model of the default size is
measured and said so (speed does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sleepvit.batch import NUMPY_THREAD_VARIABLES
from sleepvit.bench import machine_description, markdown_table, work_folder, write_results

SEED = 7
THREADS = 2
"""CPU threads of each tool (ONNX Runtime, BLAS, OpenMP): the 2 cores of the target machine."""
GOAL_SECONDS = 15.0
GOAL_RSS_MB = 1500.0
YASA_CHANNELS = {"eeg_name": "C4-M1", "eog_name": "E1-M2", "emg_name": "Chin EMG"}
SLEEPVIT_STAGES = ("load", "render", "epoch_vit", "sequence", "outputs")
YASA_STAGES = ("load", "preprocess", "features", "classifier")
STAGE_LABELS = {
    "load": "load (EDF → signals)",
    "render": "render 30-s screens",
    "epoch_vit": "EpochViT (int8)",
    "sequence": "SequenceTransformer",
    "outputs": "outputs (CSV, EDF+, XML, PNG, PDF)",
    "preprocess": "YASA: pick + resample to 100 Hz",
    "features": "YASA: features",
    "classifier": "YASA: LightGBM classifier",
}


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's ``ru_maxrss`` keeps the parent's peak across fork + exec, so the kernel's
    high-water mark of this program (``VmHWM``) is read where there is one.
    """
    try:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _sleepvit_runs(edf: Path, weights: Path, out: Path, repeat: int) -> dict:
    """Score ``edf`` ``repeat + 1`` times in this process, as ``sleepvit score`` does."""
    started = time.perf_counter()
    from sleepvit.models.backends import load_backend
    from sleepvit.outputs import output_paths
    from sleepvit.scoring import NightJob, score_recording

    scorer = load_backend(weights, "onnx-int8", threads=THREADS)
    setup_s = time.perf_counter() - started
    runs = []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        score_recording(NightJob.for_recording(edf, out), scorer)
        total = time.perf_counter() - started
        summary = json.loads(output_paths(out, edf.stem)["summary"].read_text())
        runs.append(summary["timings_s"] | {"total": total})
    return {"setup_s": setup_s, "runs": runs, "epochs": summary["epochs"]}


def _yasa_runs(edf: Path, repeat: int) -> dict:
    """Stage ``edf`` with YASA ``repeat + 1`` times in this process."""
    started = time.perf_counter()
    import mne
    import yasa

    setup_s = time.perf_counter() - started
    runs = []
    for _ in range(repeat + 1):
        times = {}
        started = time.perf_counter()
        raw = mne.io.read_raw_edf(
            edf, include=list(YASA_CHANNELS.values()), preload=True, verbose="error"
        )
        times["load"] = time.perf_counter() - started
        mark = time.perf_counter()
        staging = yasa.SleepStaging(raw, **YASA_CHANNELS)
        times["preprocess"] = time.perf_counter() - mark
        mark = time.perf_counter()
        staging.fit()
        times["features"] = time.perf_counter() - mark
        mark = time.perf_counter()
        stages = staging.predict()
        times["classifier"] = time.perf_counter() - mark
        runs.append(times | {"total": time.perf_counter() - started})
    return {"setup_s": setup_s, "runs": runs, "epochs": len(stages)}


def _child(argv: list[str]) -> None:
    """Entry point of the measuring subprocess: ``sleepvit EDF WEIGHTS OUT REPEAT`` or
    ``yasa EDF REPEAT``; prints one JSON object."""
    tool, edf, *rest = argv
    if tool == "sleepvit":
        weights, out, repeat = rest
        result = _sleepvit_runs(Path(edf), Path(weights), Path(out), int(repeat))
    else:
        result = _yasa_runs(Path(edf), int(rest[0]))
    print(json.dumps(result | {"peak_rss_mb": _peak_rss_mb()}))


def _measure(arguments: list[str]) -> dict:
    """Run one tool's measurements in a fresh Python with :data:`THREADS` CPU threads."""
    thread_limits = {name: str(THREADS) for name in NUMPY_THREAD_VARIABLES}
    completed = subprocess.run(
        [sys.executable, "-m", "sleepvit.bench.night", *arguments],
        capture_output=True,
        text=True,
        env=os.environ | thread_limits,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{arguments[0]} benchmark failed:\n{completed.stderr}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    timed = result["runs"][1:]
    result["cold_total_s"] = result["runs"][0]["total"]
    result["median_s"] = {key: statistics.median(r[key] for r in timed) for key in timed[0]}
    return result


def _simulate(workdir: Path, hours: float) -> Path:
    from sleepvit.synth import simulate_night, write_night

    edf, _ = write_night(simulate_night(hours=hours, seed=SEED), workdir / "night.edf")
    return edf


def format_table(ours: dict, yasa: dict) -> str:
    """Markdown table: median seconds per stage of both tools, totals, ratio, peak RSS."""

    def cell(result: dict, key: str) -> str:
        value = result["median_s"].get(key)
        return "—" if value is None else f"{value:.2f}"

    cells = [
        [STAGE_LABELS[key], cell(ours, key), cell(yasa, key)]
        for key in dict.fromkeys(SLEEPVIT_STAGES + YASA_STAGES)
    ]
    ours_fresh, yasa_fresh = _fresh_process_s(ours), _fresh_process_s(yasa)
    ratio = ours["median_s"]["total"] / yasa["median_s"]["total"]
    cells += [
        ["**whole night (median)**", f"**{cell(ours, 'total')}**", f"**{cell(yasa, 'total')}**"],
        ["SleepViT / YASA", f"{ratio:.2f}×", ""],
        [
            "imports + model load (once per process)",
            f"{ours['setup_s']:.2f}",
            f"{yasa['setup_s']:.2f}",
        ],
        [
            "first night in a fresh process (what one `score` costs)",
            f"{ours_fresh:.2f}",
            f"{yasa_fresh:.2f}",
        ],
        ["SleepViT / YASA, fresh process", f"{ours_fresh / yasa_fresh:.2f}×", ""],
        ["peak RSS MB", f"{ours['peak_rss_mb']:.0f}", f"{yasa['peak_rss_mb']:.0f}"],
    ]
    return markdown_table([("stage", "l"), ("SleepViT s", "r"), ("YASA s", "r")], cells)


def _fresh_process_s(result: dict) -> float:
    return result["setup_s"] + result["cold_total_s"]


def goals(ours: dict, yasa: dict) -> dict[str, bool]:
    """The targets on the 2-core machine: ≤ 15 s, ≤ 1.5 GB, no slower than YASA (both in a
    running process and for the first night of a fresh one)."""
    total = ours["median_s"]["total"]
    return {
        f"whole night <= {GOAL_SECONDS:g} s": total <= GOAL_SECONDS,
        f"peak RSS <= {GOAL_RSS_MB:g} MB": ours["peak_rss_mb"] <= GOAL_RSS_MB,
        "no slower than YASA (median night)": total <= yasa["median_s"]["total"],
        "no slower than YASA (fresh process)": _fresh_process_s(ours) <= _fresh_process_s(yasa),
    }


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from sleepvit.bench.infer import measurable_weights
    from sleepvit.errors import SleepVitError

    if importlib.util.find_spec("yasa") is None:
        raise SleepVitError(
            "bench night measures YASA beside SleepViT, and yasa is not installed; "
            "pip install 'sleepvit[dev]'"
        )
    weights = Path(args.weights) if getattr(args, "weights", None) else None
    repeat = max(1, args.repeat)
    with work_folder(args.workdir, prefix="sleepvit-bench-night-") as workdir:
        folder, notes = measurable_weights(weights, workdir)
        edf = _simulate(workdir, args.hours)
        ours = _measure(["sleepvit", str(edf), str(folder), str(workdir / "scored"), str(repeat)])
        yasa = _measure(["yasa", str(edf), str(repeat)])
    print(
        f"{args.hours:g}-h simulated hospital night ({ours['epochs']} epochs, seed {SEED}), "
        f"{THREADS} threads per tool, median of {repeat} runs after a first one — "
        f"{machine_description()}"
    )
    for note in notes:
        print(f"note: {note}")
    print(format_table(ours, yasa))
    met = goals(ours, yasa)
    for goal, ok in met.items():
        print(f"{'met' if ok else 'MISSED'}: {goal}")
    write_results(
        args.json,
        {
            "machine": machine_description(),
            "hours": args.hours,
            "threads": THREADS,
            "repeat": repeat,
            "weights": str(weights or folder),
            "notes": notes,
            "sleepvit": ours,
            "yasa": yasa,
            "goals": met,
        },
    )
    return 0


if __name__ == "__main__":
    _child(sys.argv[1:])
