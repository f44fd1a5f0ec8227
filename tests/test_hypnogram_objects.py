"""The hypnogram as MNE Annotations, a yasa.Hypnogram and a pandas DataFrame, and back."""

from __future__ import annotations

import sys

import mne
import numpy as np
import pandas as pd
import pytest

from sleepvit import Hypnogram, score_raw
from sleepvit.errors import HypnogramError
from sleepvit.io import load_study, read_hypnogram
from sleepvit.metrics.sleep import sleep_statistics


def read_raw(path) -> mne.io.BaseRaw:
    return mne.io.read_raw_edf(path, preload=True, verbose="error")


@pytest.fixture(scope="module")
def scored(hospital_night) -> Hypnogram:
    """The hospital fixture night read by MNE and scored by the shipped demo weights."""
    return score_raw(read_raw(hospital_night[0]))


def test_hypnogram_to_mne_annotations_and_back(hospital_night):
    edf, scoring = hospital_night
    study = load_study(edf)
    expert = read_hypnogram(scoring, study.start, study.duration_s)
    annotations = expert.to_mne_annotations()
    assert annotations.orig_time.replace(tzinfo=None) == study.start
    back = Hypnogram.from_mne_annotations(annotations)
    assert (back.names(), back.start) == (expert.names(), expert.start)
    # On the Raw, among its apnoea and arousal annotations, one event per 30-s epoch.
    raw = read_raw(edf)
    raw.set_annotations(raw.annotations + annotations)
    on_raw = Hypnogram.from_mne_annotations(raw.annotations, study.start, study.duration_s)
    assert on_raw.names() == expert.names()
    events, _ = mne.events_from_annotations(
        raw, regexp="^Sleep stage", chunk_duration=30.0, verbose="error"
    )
    assert len(events) == len(expert)
    # MNE's reading of a Sleep-EDF-style hypnogram file is the file's scoring.
    from_mne_reader = Hypnogram.from_mne_annotations(mne.read_annotations(scoring))
    assert from_mne_reader.names() == read_hypnogram(scoring).names()
    unscored = Hypnogram.from_names(["W", "UNS", "N2"])
    assert Hypnogram.from_mne_annotations(unscored.to_mne_annotations()).names() == [
        "W",
        "UNS",
        "N2",
    ]
    with pytest.raises(HypnogramError, match="hold no sleep stage .found: 'Arousal'"):
        Hypnogram.from_mne_annotations(mne.Annotations([0], [3], ["Arousal"]))


def test_to_yasa_holds_sleepvits_stages_probabilities_and_clock(scored):
    hyp = scored.to_yasa()
    names = {"W": "WAKE", "N1": "N1", "N2": "N2", "N3": "N3", "REM": "REM"}
    assert hyp.hypno.tolist() == [names[n] for n in scored.names()]
    assert list(hyp.proba.columns) == ["WAKE", "N1", "N2", "N3", "REM"]
    np.testing.assert_allclose(hyp.proba.to_numpy(), scored.probabilities, atol=1e-6)
    assert hyp.start == pd.Timestamp(scored.start) and hyp.scorer == "sleepvit-demo"
    yasa_stats, ours = hyp.sleep_statistics(), sleep_statistics(scored)
    assert (yasa_stats["TIB"], yasa_stats["TST"]) == (ours.tib_min, ours.tst_min)
    unscored = Hypnogram.from_names(["W", "UNS", "N2"]).to_yasa()
    assert unscored.hypno.tolist() == ["WAKE", "UNS", "N2"] and unscored.proba is None


def test_to_dataframe_has_one_row_per_epoch(scored):
    frame = scored.to_dataframe()
    assert frame.index.name == "epoch" and frame.index.tolist() == list(range(len(scored)))
    columns = ["onset_s", "time", "stage", "confidence", "p_W", "p_N1", "p_N2", "p_N3", "p_REM"]
    assert frame.columns.tolist() == columns
    assert frame["stage"].tolist() == scored.names()
    assert frame["stage"].cat.categories.tolist() == ["W", "N1", "N2", "N3", "REM", "UNS"]
    np.testing.assert_allclose(frame["onset_s"], scored.onsets_s)
    np.testing.assert_allclose(frame["confidence"], scored.confidence)
    np.testing.assert_allclose(frame.filter(like="p_").to_numpy(), scored.probabilities)
    assert frame["time"].iloc[2] == pd.Timestamp(scored.start) + pd.Timedelta(seconds=60)
    human = Hypnogram.from_names(["W", "N1"]).to_dataframe()
    assert human.columns.tolist() == ["onset_s", "stage"]


@pytest.mark.parametrize(
    ("method", "package"),
    [("to_yasa", "yasa"), ("to_dataframe", "pandas")],
)
def test_a_missing_yasa_or_pandas_is_one_line_saying_what_to_install(monkeypatch, method, package):
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(ModuleNotFoundError) as missing:
        getattr(Hypnogram.from_names(["W"]), method)()
    assert str(missing.value) == (
        f"Hypnogram.{method} needs {package}, which is not installed; install it with: "
        f"pip install {package}"
    )
