"""The hypnogram as the pandas objects of notebooks: a DataFrame and a ``yasa.Hypnogram``.

pandas and YASA are optional: neither is needed to score a night, and each function says in
one line what to install when its package is missing.
"""

from __future__ import annotations

import importlib
import logging
from datetime import timedelta

import numpy as np

from sleepvit.hypnogram import STAGES, Hypnogram
from sleepvit.io.hypnograms.tables import PROBABILITY_COLUMNS

log = logging.getLogger(__name__)

STAGE_CATEGORIES = (*STAGES, "UNS")
_YASA_STAGES = {"W": "WAKE", "N1": "N1", "N2": "N2", "N3": "N3", "REM": "REM", "UNS": "UNS"}


def optional_module(name: str, needed_by: str):
    """Import ``name``, or raise a one-line ``ModuleNotFoundError`` saying what to install.

    >>> optional_module("no_such_package", "Hypnogram.to_nothing")
    Traceback (most recent call last):
    ModuleNotFoundError: Hypnogram.to_nothing needs no_such_package, which is not installed; \
install it with: pip install no_such_package
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise ModuleNotFoundError(
            f"{needed_by} needs {name}, which is not installed; install it with: pip install "
            f"{name}",
            name=name,
        ) from None


def to_dataframe(hyp: Hypnogram):
    """One row per epoch, indexed by ``epoch`` (from 0): ``onset_s``, ``time`` (clock time,
    when the start is known), ``stage`` (categorical), and, for a model's hypnogram,
    ``confidence`` and ``p_W`` … ``p_REM``, the columns of the CSV export."""
    pd = optional_module("pandas", "Hypnogram.to_dataframe")
    columns: dict[str, object] = {"onset_s": hyp.onsets_s}
    if hyp.start is not None:
        columns["time"] = pd.Timestamp(hyp.start) + pd.to_timedelta(hyp.onsets_s, unit="s")
    columns["stage"] = pd.Categorical(hyp.names(), categories=STAGE_CATEGORIES)
    if hyp.probabilities is not None:
        columns["confidence"] = hyp.confidence.astype(np.float64)
        probabilities = hyp.probabilities.astype(np.float64).T
        columns.update(zip(PROBABILITY_COLUMNS, probabilities, strict=True))
    return pd.DataFrame(columns, index=pd.RangeIndex(len(hyp), name="epoch"))


def to_yasa(hyp: Hypnogram):
    """``hyp`` as a 5-stage ``yasa.Hypnogram`` whose ``proba`` holds SleepViT's probabilities.

    UNS epochs are YASA's ``UNS``. ``proba`` is left out (with a warning) when some epochs
    have no probabilities, as after aligning a scoring to a longer recording.
    """
    yasa = optional_module("yasa", "Hypnogram.to_yasa")
    pd = optional_module("pandas", "Hypnogram.to_yasa")
    proba = None
    if hyp.probabilities is not None:
        probabilities = hyp.probabilities.astype(np.float64)
        if np.isfinite(probabilities).all():
            # float32 rows sum to 1 only within 1e-7; YASA checks the sums.
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            proba = pd.DataFrame(probabilities, columns=[_YASA_STAGES[s] for s in STAGES])
        else:
            log.warning("some epochs have no probabilities; the YASA hypnogram has no proba")
    start = None if hyp.start is None else hyp.start + timedelta(seconds=hyp.offset_s)
    return yasa.Hypnogram(
        [_YASA_STAGES[name] for name in hyp.names()],
        n_stages=5,
        freq=f"{hyp.epoch_s:g}s",
        start=start,
        scorer=hyp.metadata.get("model"),
        proba=proba,
    )
