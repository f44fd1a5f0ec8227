"""Peer sleep stagers scored beside SleepViT on the same nights: YASA and GSSC.

Both were trained on large sets of real PSG and install from PyPI, so their agreement with a
simulated night's true stages also measures how realistic the simulator is.

- **YASA** (BSD, ``dev`` extra): ``yasa.SleepStaging`` with one EEG (central preferred), one
  EOG and the chin EMG where the night has them, run in this process.
- **GSSC** (AGPL, ``peers`` extra): a development-only peer. SleepViT never imports it; it runs
  in another interpreter (``--peers-python``, default: this one) from ``tools/peers/
  gssc_stages.py``, outside the package, with one EEG and one EOG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepvit.errors import SleepVitError
from sleepvit.hypnogram import UNS
from sleepvit.io.channels import slot_of_label

GSSC_SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "peers" / "gssc_stages.py"
"""The out-of-process GSSC runner (in a source checkout; not part of an installed package)."""
_YASA_CODES = {"W": 0, "WAKE": 0, "N1": 1, "N2": 2, "N3": 3, "R": 4, "REM": 4}
YASA_MIN_HZ = 80.0
_EEG_PREFERENCE = ("EEG_C", "EEG_F", "EEG_O")


@dataclass(frozen=True)
class PeerChannels:
    """The labels a peer reads from one recording (``None`` where the night has none)."""

    eeg: str
    eog: str | None
    emg: str | None

    @classmethod
    def choose(cls, labels: list[str], rates: list[float]) -> PeerChannels:
        """Central EEG first, then frontal, then occipital; the first EOG; a raw chin EMG.

        >>> PeerChannels.choose(["F4-M1", "C4-M1", "E1-M2", "Chin EMG"], [256.0] * 4)
        PeerChannels(eeg='C4-M1', eog='E1-M2', emg='Chin EMG')
        >>> PeerChannels.choose(["EEG Fpz-Cz", "EMG submental"], [100.0, 1.0]).emg is None
        True
        """
        slots = {}
        for label, rate in zip(labels, rates, strict=True):
            slot = slot_of_label(label)
            if slot is not None and slot not in slots and (slot != "EMG_CHIN" or rate > 50.0):
                slots[slot] = label
        eeg = next((slots[s] for s in _EEG_PREFERENCE if s in slots), None)
        if eeg is None:
            raise SleepVitError(f"no EEG channel among {labels}; peers need one")
        eog = slots.get("EOG_L", slots.get("EOG_R"))
        return cls(eeg, eog, slots.get("EMG_CHIN"))


def yasa_stages(edf: Path, channels: PeerChannels) -> np.ndarray:
    """YASA's stage code per 30-s epoch of ``edf`` (``UNS`` where it has none)."""
    import mne
    import yasa

    picks = [c for c in (channels.eeg, channels.eog, channels.emg) if c]
    raw = mne.io.read_raw_edf(edf, include=picks, preload=True, verbose="error")
    if raw.info["sfreq"] < YASA_MIN_HZ:  # YASA refuses < 80 Hz; it resamples to 100 Hz anyway
        raw.resample(100.0, verbose="error")
    staging = yasa.SleepStaging(
        raw, eeg_name=channels.eeg, eog_name=channels.eog, emg_name=channels.emg
    )
    predicted = staging.predict()
    names = getattr(predicted, "hypno", predicted)  # yasa >= 0.7 answers a yasa.Hypnogram
    return np.array([_YASA_CODES.get(str(s), UNS) for s in names], dtype=np.int64)


def gssc_stages(
    jobs: list[tuple[Path, PeerChannels]], python: str | None = None, threads: int = 1
) -> list[np.ndarray | None]:
    """GSSC's stage codes for each ``(edf, channels)`` job, run in one separate process.

    ``None`` for every job when GSSC (or its runner script) is not available: the benchmark
    then says so instead of failing.
    """
    if not GSSC_SCRIPT.is_file():
        return [None] * len(jobs)
    with tempfile.TemporaryDirectory(prefix="sleepvit-gssc-") as folder:
        request, answer = Path(folder) / "jobs.json", Path(folder) / "stages.json"
        request.write_text(
            json.dumps([{"edf": str(edf), "eeg": ch.eeg, "eog": ch.eog} for edf, ch in jobs])
        )
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        done = subprocess.run(
            [python or sys.executable, str(GSSC_SCRIPT), str(request), str(answer)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
            print(f"GSSC did not run ({tail[0]}); its column is left empty", file=sys.stderr)
            return [None] * len(jobs)
        return [np.array(r["stages"], dtype=np.int64) for r in json.loads(answer.read_text())]
