"""Derive the hypnogram model's statistics from real expert hypnograms.

Usage::

    python -m sleepvit.synth.derive_stats ../shared/data/sleep-edf-hypnograms

reads every ``*.txt`` file (comma-separated stages per 30-s epoch: ``W, N1, N2, N3, REM``,
``UNS``) and writes ``hypnogram_stats.json`` next to this module: per time-of-night bin,
bout-to-bout stage transition counts (also conditioned on the time since the last REM
period, which carries the ~90-min NREM-REM cycle) and bout-length quantiles per stage.
Only these aggregates are committed, never the source files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sleepvit.hypnogram import STAGE_CODE, STAGES, UNS
from sleepvit.io.atomic import atomic_open

STATS_PATH = Path(__file__).with_name("hypnogram_stats.json")
HOUR_BINS = (1, 2, 3, 4, 5, 6, 7)
"""Upper edges (hours since sleep onset) of the time-of-night bins; the last bin is open."""
SINCE_REM_BINS = (20, 40, 60, 80, 100, 120)
"""Upper edges (minutes since the end of the last REM period, or since sleep onset)."""
QUANTILES = np.linspace(0, 1, 21)
EPOCHS_PER_HOUR = 120
ATTRIBUTION = (
    "Derived from 197 expert hypnograms of PhysioNet Sleep-EDF Expanded (Kemp et al., IEEE TBME "
    "2000; Goldberger et al., Circulation 2000), Open Data Commons Attribution License v1.0; "
    "converted from the consensus files of the Dreem dreem-learning-evaluation repository (MIT)."
)


def hour_bin(epoch: int) -> int:
    return int(np.searchsorted(HOUR_BINS, epoch / EPOCHS_PER_HOUR, side="right"))


def since_rem_bin(epochs: int) -> int:
    return int(np.searchsorted(SINCE_REM_BINS, epochs / 2, side="right"))


def read_stages(path: Path) -> np.ndarray:
    """One night's stage codes; unscored epochs take the stage before them."""
    names = [n.strip() for n in path.read_text().replace("\n", ",").split(",") if n.strip()]
    codes = np.array([STAGE_CODE[n] for n in names], dtype=np.int8)
    for i in np.flatnonzero(codes == UNS):
        codes[i] = codes[i - 1] if i else STAGE_CODE["W"]
    return codes


def sleep_period(codes: np.ndarray) -> np.ndarray:
    """From the first to the last sleep epoch (the files add 30 min of wake on each side)."""
    asleep = np.flatnonzero(codes != STAGE_CODE["W"])
    return codes[asleep[0] : asleep[-1] + 1] if asleep.size else codes[:0]


def bouts(codes: np.ndarray) -> list[tuple[int, int, int]]:
    """(stage, start epoch, length) of every run of one stage."""
    edges = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], edges])
    lengths = np.diff(np.concatenate([starts, [codes.size]]))
    return [(int(codes[s]), int(s), int(n)) for s, n in zip(starts, lengths, strict=True)]


def derive(paths: list[Path]) -> dict:
    n_hours, n_rem, n_st = len(HOUR_BINS) + 1, len(SINCE_REM_BINS) + 1, len(STAGES)
    transitions = np.zeros((n_hours, n_rem, n_st, n_st), dtype=np.int64)
    lengths: dict[tuple[int, int], list[int]] = {}
    first_stage = np.zeros(n_st, dtype=np.int64)
    proportions, period_hours, rem_latency_min = [], [], []
    for path in paths:
        period = sleep_period(read_stages(path))
        if period.size == 0:
            continue
        runs = bouts(period)
        first_stage[runs[0][0]] += 1
        since_rem = 0
        for (stage, start, length), (nxt, _, _) in zip(runs[:-1], runs[1:], strict=True):
            h = hour_bin(start)
            lengths.setdefault((stage, h), []).append(length)
            since_rem = 0 if stage == STAGE_CODE["REM"] else since_rem + length
            transitions[h, since_rem_bin(since_rem), stage, nxt] += 1
        last_stage, last_start, last_length = runs[-1]
        lengths.setdefault((last_stage, hour_bin(last_start)), []).append(last_length)
        sleep = period[period != STAGE_CODE["W"]]
        proportions.append(np.bincount(sleep, minlength=n_st)[1:] / sleep.size)
        period_hours.append(period.size / EPOCHS_PER_HOUR)
        rem_epochs = np.flatnonzero(period == STAGE_CODE["REM"])
        if rem_epochs.size:
            rem_latency_min.append(rem_epochs[0] / 2)
    bout_quantiles = {
        name: [
            np.quantile(lengths.get((code, h), [1]), QUANTILES).round(2).tolist()
            for h in range(n_hours)
        ]
        for code, name in enumerate(STAGES)
    }
    props = np.array(proportions)
    return {
        "attribution": ATTRIBUTION,
        "n_nights": len(proportions),
        "epoch_s": 30,
        "stages": list(STAGES),
        "hour_bins_upper_h": list(HOUR_BINS),
        "since_rem_bins_upper_min": list(SINCE_REM_BINS),
        "transitions": transitions.tolist(),
        "transitions_doc": "counts [hour bin][since-REM bin][from stage][to stage] between bouts",
        "bout_length_quantiles_epochs": bout_quantiles,
        "quantile_levels": QUANTILES.round(2).tolist(),
        "first_sleep_stage_counts": first_stage.tolist(),
        "reference": {
            "share_of_sleep_mean": dict(
                zip(STAGES[1:], props.mean(axis=0).round(3).tolist(), strict=True)
            ),
            "share_of_sleep_p10": dict(
                zip(STAGES[1:], np.quantile(props, 0.1, axis=0).round(3).tolist(), strict=True)
            ),
            "share_of_sleep_p90": dict(
                zip(STAGES[1:], np.quantile(props, 0.9, axis=0).round(3).tolist(), strict=True)
            ),
            "sleep_period_hours_median": round(float(np.median(period_hours)), 2),
            "rem_latency_min_median": round(float(np.median(rem_latency_min)), 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="folder of *.txt expert hypnograms")
    parser.add_argument("--out", type=Path, default=STATS_PATH, help="JSON file to write")
    args = parser.parse_args(argv)
    paths = sorted(args.directory.glob("*.txt"))
    if not paths:
        print(
            f"error: {args.directory}: no *.txt hypnograms found; pass the folder of "
            "sleep-edf-hypnograms",
            file=sys.stderr,
        )
        return 2
    stats = derive(paths)
    with atomic_open(args.out) as f:
        json.dump(stats, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} from {stats['n_nights']} nights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
