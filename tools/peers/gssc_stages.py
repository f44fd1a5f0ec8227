"""Stage recordings with GSSC (Greifswald Sleep Stage Classifier), for the benchmarks only.

GSSC is AGPL-licensed: SleepViT never imports it and never ships it. ``sleepvit bench
generalisation`` runs this script in a separate interpreter (one with the ``peers`` extra,
such as the project's ``.venv/bin/python``, built from the lock) and reads its JSON answer.
It lives outside the package on purpose (``tools/`` is not installed).

Usage: ``python tools/peers/gssc_stages.py JOBS.json OUT.json`` where JOBS.json is a list of
``{"edf": PATH, "eeg": LABEL, "eog": LABEL or null}``; OUT.json gets, per job, the stage code
of every 30-s epoch from the start of the recording (0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 where
GSSC gave none) and the seconds it took.
"""

from __future__ import annotations

import json
import sys
import time
import warnings


def stage(job: dict, infer) -> dict:
    import mne
    import numpy as np

    started = time.perf_counter()
    picks = [job["eeg"]] + ([job["eog"]] if job.get("eog") else [])
    raw = mne.io.read_raw_edf(job["edf"], include=picks, preload=True, verbose="error")
    raw.set_channel_types({job["eeg"]: "eeg", **({job["eog"]: "eog"} if job.get("eog") else {})})
    n_epochs = int(raw.n_times / raw.info["sfreq"] // 30)
    # GSSC low-passes at 30 Hz itself, which a recording at 60 Hz or less cannot take: there
    # only the 0.3-Hz high-pass is applied here and GSSC's own filter is skipped.
    low_rate = raw.info["sfreq"] <= 60.0
    if low_rate:
        raw.filter(0.3, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stages, times = infer.mne_infer(
            raw,
            eeg=[job["eeg"]],
            eog=[job["eog"]] if job.get("eog") else [],
            eeg_drop=False,
            # GSSC builds its channel combinations from the EOG list; an empty list with
            # dropping off leaves none to infer from, so a night without EOG lets it drop.
            eog_drop=not job.get("eog"),
            filter=not low_rate,
        )
    codes = np.full(n_epochs, -1, dtype=int)
    index = np.round(np.asarray(times) / 30).astype(int)
    inside = (index >= 0) & (index < n_epochs)
    codes[index[inside]] = np.asarray(stages)[inside]
    return {"edf": job["edf"], "stages": codes.tolist(), "seconds": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    jobs_path, out_path = argv
    import contextlib
    import io

    import mne
    import torch

    mne.set_log_level("error")
    torch.set_num_threads(1)
    from gssc.infer import EEGInfer
    from importlib_resources import files

    # GSSC pickles whole modules; torch >= 2.6 refuses them by default. These are the nets of
    # the installed gssc wheel itself, loaded in this development-only process.
    nets = [
        torch.load(files("gssc.nets").joinpath(name), weights_only=False)
        for name in ("sig_net_v1.pt", "gru_net_v1.pt")
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        infer = EEGInfer(*nets, use_cuda=False)
    results = []
    for job in json.load(open(jobs_path)):
        with contextlib.redirect_stdout(io.StringIO()):
            results.append(stage(job, infer))
    with open(out_path, "w") as handle:
        json.dump(results, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
