"""Night sets for ``sleepvit calibrate`` and the uncertainty measurements of the README.

Until the held-out simulator families of issue 10 (``sleepvit.synth.families``) are on main,
these are the nights the demo weights' uncertainty was fitted and checked on: simulated
2-h nights of seeds the training corpus never used (5,000,000+), the EEG and EOG multiplied by
one gain per night as another amplifier calibration or derivation would do.

- ``reference.csv``: 10 nights planned exactly as the demo training corpus (seeds 1000+,
  ``plan_corpus``), for the training-embedding reference;
- ``calibration.csv``: 10 nights, seeds 5,000,000–5,000,009, gain drawn per night from
  0.5, 0.7, 1, 1, 1.4, 2, 2.5 (split ``val``: never tested on);
- ``test-x1.csv``, ``test-x0.6.csv``, ``test-x1.6.csv``, ``test-x2.5.csv``, ``test-flip.csv``:
  the same 4 nights (seeds 5,100,000–5,100,003) at gain 1, 0.6, 1.6, 2.5 and with the EEG/EOG
  polarity flipped (split ``test``: for ``sleepvit evaluate`` only).

Usage: ``python tools/uncertainty_nights.py FOLDER``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from sleepvit.datasets.nights import NightRecord, write_manifest
from sleepvit.io.channels import slot_of_label
from sleepvit.synth import simulate_night, write_night
from sleepvit.train.corpus import plan_corpus, simulate_corpus_night

HOURS = 2.0
CALIBRATION_SEEDS = range(5_000_000, 5_000_010)
CALIBRATION_GAINS = (0.5, 0.7, 1.0, 1.0, 1.4, 2.0, 2.5)
TEST_SEEDS = range(5_100_000, 5_100_004)
TEST_GAINS = {"x1": 1.0, "x0.6": 0.6, "x1.6": 1.6, "x2.5": 2.5, "flip": -1.0}


def night_at_gain(seed: int, style: str, gain: float, path: Path) -> tuple[Path, Path]:
    """Simulate one night and write it with its EEG and EOG multiplied by ``gain``."""
    night = simulate_night(hours=HOURS, seed=seed, style=style)
    channels = [
        dataclasses.replace(channel, data=(channel.data * gain).astype(np.float32))
        if (slot_of_label(channel.label) or "").startswith(("EEG", "EOG"))
        else channel
        for channel in night.channels
    ]
    return write_night(dataclasses.replace(night, channels=channels), path)


def main(folder: Path) -> None:
    reference = [
        simulate_corpus_night(night, folder / "reference")
        for night in plan_corpus(10, 0, 0, hours=HOURS)
    ]
    write_manifest(reference, folder / "reference.csv")
    rng = np.random.default_rng(5)
    calibration = []
    for i, seed in enumerate(CALIBRATION_SEEDS):
        gain = float(rng.choice(CALIBRATION_GAINS))
        style = "sleep-edf" if i % 2 else "hospital"
        path = folder / "calib" / f"calib-x{gain:g}-{seed}.edf"
        edf, hypnogram = night_at_gain(seed, style, gain, path)
        calibration.append(NightRecord(edf, hypnogram, f"calib-{seed}", "val"))
    write_manifest(calibration, folder / "calibration.csv")
    for name, gain in TEST_GAINS.items():
        records = []
        for i, seed in enumerate(TEST_SEEDS):
            style = "sleep-edf" if i % 2 else "hospital"
            path = folder / "test" / name / f"t{seed}.edf"
            edf, hypnogram = night_at_gain(seed, style, gain, path)
            records.append(NightRecord(edf, hypnogram, f"t-{seed}", "test"))
        write_manifest(records, folder / f"test-{name}.csv")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
