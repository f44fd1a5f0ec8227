"""Which nights to learn from: recordings paired with hypnograms, grouped by subject.

A data set is either a folder (recordings are paired with their hypnograms by name, see
:func:`sleepvit.io.hypnograms.find_hypnogram`) or a manifest CSV with the columns
``edf,hypnogram,subject[,split]``. Splits are always drawn by subject, never by epoch or by
night: epochs of one person are correlated, and both Sleep-EDF nights of a subject must
land on the same side, otherwise validation scores are optimistic.
"""

from __future__ import annotations

import csv
import logging
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sleepvit.errors import SleepVitError
from sleepvit.io.atomic import atomic_open

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFEST_COLUMNS: tuple[str, ...] = ("edf", "hypnogram", "subject", "split")
RECORDING_SUFFIXES: tuple[str, ...] = (".edf", ".bdf")

# Sleep-EDF names: SC4ssN.. (cassette) and ST7ssN.. (telemetry); ss = subject, N = night.
_SLEEP_EDF_NAME = re.compile(r"^(S[CT][47])(\d\d)(\d)", re.IGNORECASE)


class DataSetError(SleepVitError):
    """A training or evaluation data set (folder or manifest) is unusable."""


@dataclass(frozen=True)
class NightRecord:
    """One scored night: recording, its hypnogram, who was recorded, which split it is in."""

    edf: Path
    hypnogram: Path
    subject: str
    split: str = ""

    @property
    def name(self) -> str:
        return self.edf.stem


def subject_of(edf: str | Path) -> str:
    """Subject id of a recording: Sleep-EDF's ``SCss``/``STss`` code, else the file stem.

    Examples
    --------
    >>> subject_of("SC4001E0-PSG.edf"), subject_of("SC4002E0-PSG.edf")
    ('SC400', 'SC400')
    >>> subject_of("ST7121J0-PSG.edf"), subject_of("night-17.edf")
    ('ST712', 'night-17')
    """
    stem = Path(edf).stem
    match = _SLEEP_EDF_NAME.match(stem)
    return (match.group(1) + match.group(2)).upper() if match else stem


def discover_nights(source: str | Path) -> list[NightRecord]:
    """Nights of a data set given as a folder or a manifest CSV, sorted by recording path.

    In a folder every ``.edf``/``.bdf`` with a hypnogram next to it is used; recordings
    without one are skipped with a warning.
    """
    source = Path(source)
    if source.is_file():
        return read_manifest(source)
    if not source.is_dir():
        raise DataSetError(
            "no such folder or manifest; give a folder of EDF files with hypnograms or a "
            "manifest CSV with columns edf,hypnogram,subject",
            source,
        )
    from sleepvit.io.hypnograms import find_hypnogram

    records = []
    for edf in sorted(p for p in source.rglob("*") if p.suffix.lower() in RECORDING_SUFFIXES):
        if "hypnogram" in edf.stem.lower():
            continue
        hypnogram = find_hypnogram(edf)
        if hypnogram is None:
            log.warning("%s: no hypnogram found next to it; skipped", edf)
            continue
        records.append(NightRecord(edf, Path(hypnogram), subject_of(edf)))
    if not records:
        raise DataSetError(
            "no recording with a hypnogram found; name hypnograms like Sleep-EDF "
            "(SC4001E0-PSG.edf + SC4001EC-Hypnogram.edf) or <stem>-Hypnogram.edf, "
            "or pass a manifest CSV",
            source,
        )
    return records


def read_manifest(path: str | Path) -> list[NightRecord]:
    """Read a manifest CSV; relative paths are taken relative to the manifest's folder."""
    path = Path(path)
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataSetError(f"cannot read the manifest ({exc}); give a CSV file", path) from exc
    if not rows or not {"edf", "hypnogram"} <= set(rows[0]):
        raise DataSetError(
            "the manifest needs a header with at least the columns edf,hypnogram "
            "(optional: subject, split)",
            path,
        )
    records = []
    for line, row in enumerate(rows, start=2):
        split = (row.get("split") or "").strip().lower()
        if split and split not in SPLITS:
            raise DataSetError(
                f"line {line}: split {split!r} is not one of {', '.join(SPLITS)}; fix the "
                "split column",
                path,
            )
        edf = path.parent / row["edf"].strip()
        hypnogram = path.parent / row["hypnogram"].strip()
        for file in (edf, hypnogram):
            if not file.is_file():
                raise DataSetError(
                    f"line {line}: {file} does not exist; fix the path (relative paths are "
                    "relative to the manifest's folder)",
                    path,
                )
        subject = (row.get("subject") or "").strip() or subject_of(edf)
        records.append(NightRecord(edf, hypnogram, subject, split))
    return records


def write_manifest(records: list[NightRecord], path: str | Path) -> Path:
    """Write ``records`` as a manifest CSV with paths relative to its folder when possible."""
    path = Path(path)
    root = path.parent.resolve()

    def relative(file: Path) -> str:
        resolved = file.resolve()
        return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)

    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for r in records:
            writer.writerow([relative(r.edf), relative(r.hypnogram), r.subject, r.split])
    return path


def split_by_subject(
    records: list[NightRecord],
    val_fraction: float = 0.15,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> list[NightRecord]:
    """Give every record a split, drawing whole subjects; keeps splits a manifest already set.

    If every record already has a split (manifest column), it is kept as is. Otherwise
    subjects are shuffled with ``seed`` and the first ones go to test, then val, the rest
    to train; with two or more subjects at least one lands in val.

    Examples
    --------
    >>> from pathlib import Path
    >>> nights = [NightRecord(Path(f"SC4{s:02d}{n}E0-PSG.edf"), Path("h.edf"),
    ...                       subject_of(f"SC4{s:02d}{n}E0")) for s in range(10) for n in (1, 2)]
    >>> split = split_by_subject(nights, val_fraction=0.2, seed=1)
    >>> sides = {}
    >>> for r in split:
    ...     sides.setdefault(r.subject, set()).add(r.split)
    >>> all(len(s) == 1 for s in sides.values())
    True
    """
    if records and all(r.split for r in records):
        return list(records)
    subjects = sorted({r.subject for r in records})
    random.Random(seed).shuffle(subjects)
    n_test = round(len(subjects) * test_fraction)
    n_val = round(len(subjects) * val_fraction)
    if len(subjects) >= 2 and val_fraction > 0:
        n_val = max(1, n_val)
    n_val = min(n_val, max(0, len(subjects) - n_test - 1))
    side = {s: "test" for s in subjects[:n_test]}
    side |= {s: "val" for s in subjects[n_test : n_test + n_val]}
    side |= {s: "train" for s in subjects[n_test + n_val :]}
    return [replace(r, split=side[r.subject]) for r in records]


def check_subjects_disjoint(records: list[NightRecord]) -> None:
    """Refuse a split in which one subject appears on two sides (a manifest mistake)."""
    sides: dict[str, set[str]] = {}
    for r in records:
        sides.setdefault(r.subject, set()).add(r.split)
    leaked = sorted(s for s, where in sides.items() if len(where) > 1)
    if leaked:
        raise DataSetError(
            f"subject(s) {', '.join(leaked[:5])} appear in more than one split; put all "
            "nights of a subject in the same split in the manifest"
        )


def select_split(records: list[NightRecord], split: str) -> list[NightRecord]:
    return [r for r in records if r.split == split]


def trim_wake(labels: np.ndarray, minutes: float | None) -> np.ndarray:
    """Mark wake further than ``minutes`` from any sleep as unscored (-1).

    The Sleep-EDF literature keeps 30 min of wake before sleep onset and after the final
    awakening: the cassette recordings last about 20 h, and hours of daytime wake would
    otherwise dominate both training and the metrics. ``None`` keeps every epoch.

    >>> trim_wake(np.array([0, 0, 0, 2, 2, 0, 0, 0]), 1.0).tolist()
    [-1, 0, 0, 2, 2, 0, 0, -1]
    """
    if minutes is None:
        return labels
    sleep = np.flatnonzero(labels > 0)
    if sleep.size == 0:
        return labels
    keep = int(minutes * 2)  # 30-s epochs
    out = labels.copy()
    out[: max(0, sleep[0] - keep)] = -1
    out[sleep[-1] + keep + 1 :] = -1
    return out
