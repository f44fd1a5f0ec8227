"""``sleepvit bench load``: time and peak memory of ``load_study`` on a hospital-size EDF.

Writes an EDF+ with a 16-channel hospital montage (EEG/EOG at 256 Hz, chin EMG and ECG at
512 Hz, leg EMG, breathing at 32 Hz, SpO2 at 1 Hz; ~212 MB for 8 h) filled with noise: load
speed and memory depend on the layout, not on the content. Each measurement runs
``load_study`` in a fresh interpreter, so peak RSS is the loader's own; the idle figure is
the same interpreter's peak after its imports, just before loading.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from sleepvit.bench import machine_description, work_folder, write_results

HOSPITAL_MONTAGE: tuple[tuple[str, int, str], ...] = (
    ("F4-M1", 256, "uV"),
    ("C4-M1", 256, "uV"),
    ("O2-M1", 256, "uV"),
    ("F3-M2", 256, "uV"),
    ("C3-M2", 256, "uV"),
    ("O1-M2", 256, "uV"),
    ("E1-M2", 256, "uV"),
    ("E2-M1", 256, "uV"),
    ("Chin1-Chin2", 512, "uV"),
    ("ECG II", 512, "uV"),
    ("Leg L", 256, "uV"),
    ("Leg R", 256, "uV"),
    ("Flow", 32, "a.u."),
    ("Thor", 32, "a.u."),
    ("Abdomen", 32, "a.u."),
    ("SpO2", 1, "%"),
)
"""(label, samples per second, unit) of the benchmark recording."""


def write_noise_edf(
    path: str | Path,
    seconds: int,
    montage: tuple[tuple[str, int, str], ...] = HOSPITAL_MONTAGE,
    seed: int = 0,
) -> Path:
    """Write an EDF+ of ``seconds`` 1-s records of digital noise with the given montage.

    Electrophysiology spans ±3276.7 µV, SpO2 0–100 %, other units ±100. Written in
    10-minute chunks so a 24-h file never sits in memory.

    >>> import tempfile, pathlib
    >>> out = write_noise_edf(pathlib.Path(tempfile.mkdtemp()) / "n.edf", 60)
    >>> out.stat().st_size > 60 * 2 * 3000
    True
    """
    import pyedflib

    path = Path(path)
    rng = np.random.default_rng(seed)
    writer = pyedflib.EdfWriter(str(path), len(montage), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        headers = []
        for label, rate, unit in montage:
            low, high = {"uV": (-3276.8, 3276.7), "%": (0.0, 100.0)}.get(unit, (-100.0, 100.0))
            headers.append(
                {
                    "label": label,
                    "dimension": unit,
                    "sample_frequency": rate,
                    "physical_min": low,
                    "physical_max": high,
                    "digital_min": -32768,
                    "digital_max": 32767,
                }
            )
        writer.setSignalHeaders(headers)
        for start in range(0, seconds, 600):
            length = min(600, seconds - start)
            chunk = [
                rng.integers(-2000, 2000, size=rate * length, dtype=np.int32)
                for _, rate, _ in montage
            ]
            writer.writeSamples(chunk, digital=True)
    finally:
        writer.close()
    return path


_PROBE = """
import json, resource, sys, time
import numpy, pyedflib
import sleepvit.io
from sleepvit.io import load_study
idle_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
study = load_study(sys.argv[1])
seconds = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "idle_mb": idle_kb / 1024}))
"""


def _probe(target: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, target], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(path: Path, repeat: int) -> dict:
    """Median load seconds and peak RSS over ``repeat`` fresh interpreters (after a warm-up)."""
    _probe(str(path))  # warm the page cache: every later run reads the same way
    runs = [_probe(str(path)) for _ in range(repeat)]
    idle = statistics.median(r["idle_mb"] for r in runs)
    size_mb = path.stat().st_size / 2**20
    peak = statistics.median(r["peak_mb"] for r in runs)
    return {
        "file_mb": round(size_mb, 1),
        "load_s": round(statistics.median(r["seconds"] for r in runs), 2),
        "peak_rss_mb": round(peak, 1),
        "idle_rss_mb": round(idle, 1),
        "increase_mb": round(peak - idle, 1),
        "peak_over_file": round(peak / size_mb, 2),
        "increase_over_file": round((peak - idle) / size_mb, 2),
    }


def run(args: argparse.Namespace) -> int:
    """Measure the 8-h (``--hours``) and 24-h recordings; print a table, optionally JSON."""
    hours_list = sorted({float(args.hours), 24.0})
    results = []
    with work_folder(args.workdir) as folder:
        for hours in hours_list:
            path = folder / f"bench-load-{hours:g}h.edf"
            if not path.exists():
                print(f"writing {path} ({hours:g} h) …", file=sys.stderr)
                write_noise_edf(path, int(hours * 3600))
            results.append({"hours": hours, **measure(path, args.repeat)})
    print(f"machine: {machine_description()}")
    print(f"load_study, {len(HOSPITAL_MONTAGE)}-channel EDF+, median of {args.repeat} fresh runs")
    header = (
        "hours",
        "file MiB",
        "load s",
        "peak RSS MiB",
        "idle MiB",
        "increase MiB",
        "peak/file",
    )
    print(" | ".join(header))
    for r in results:
        print(
            f"{r['hours']:g} | {r['file_mb']} | {r['load_s']} | {r['peak_rss_mb']} | "
            f"{r['idle_rss_mb']} | {r['increase_mb']} | {r['peak_over_file']}"
        )
    write_results(args.json, {"machine": machine_description(), "results": results})
    return 0
