"""Sleep-EDF-78 (PhysioNet Sleep-EDF Expanded, sleep cassette): download and manifest.

Wraps :func:`mne.datasets.sleep_physionet.age.fetch_data` and writes a ``manifest.csv`` with
one row per night and the subject of each (both nights of a subject share it), ready for
``sleepvit train --data DIR/manifest.csv``.
"""

from __future__ import annotations

from pathlib import Path

from sleepvit.datasets.nights import NightRecord, subject_of, write_manifest
from sleepvit.errors import SleepVitError

SUBJECTS: tuple[int, ...] = tuple(s for s in range(83) if s not in {39, 68, 69, 78, 79})
"""The 78 subjects of the sleep-cassette study that PhysioNet publishes."""


class DownloadError(SleepVitError):
    """A public data set could not be downloaded."""


def fetch_sleep_edf(
    folder: str | Path,
    subjects: tuple[int, ...] | list[int] = SUBJECTS,
    recordings: tuple[int, ...] = (1, 2),
    mirror: str | None = None,
) -> Path:
    """Download the nights of ``subjects`` into ``folder``; returns the manifest written there.

    Files already present are not downloaded again. ``mirror`` replaces PhysioNet's
    sleep-cassette URL (a lab's local copy).

    Examples
    --------
    >>> fetch_sleep_edf("data/sleep-edf", subjects=[0, 1])  # doctest: +SKIP
    PosixPath('data/sleep-edf/manifest.csv')
    """
    from mne.datasets.sleep_physionet import age

    folder = Path(folder)
    unknown = sorted(set(subjects) - set(SUBJECTS))
    if unknown:
        raise DownloadError(
            f"Sleep-EDF has no subject(s) {unknown}; choose among 0-82 except 39, 68, 69, 78, 79"
        )
    options = {"base_url": mirror} if mirror else {}
    folder.mkdir(parents=True, exist_ok=True)
    try:
        pairs = age.fetch_data(
            subjects=list(subjects),
            recording=list(recordings),
            path=str(folder),
            on_missing="warn",
            verbose="error",
            **options,
        )
    except OSError as exc:  # requests' connection and HTTP errors are OSErrors
        source = mirror or "physionet.org"
        raise DownloadError(
            f"cannot download Sleep-EDF from {source} ({type(exc).__name__}); check the "
            "internet connection or download from a reachable mirror",
            folder,
            settings=("mirror",),
        ) from exc
    records = [NightRecord(Path(edf), Path(hypnogram), subject_of(edf)) for edf, hypnogram in pairs]
    return write_manifest(records, folder / "manifest.csv")
