"""Agreement metrics and AASM sleep statistics."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepvit.errors import HypnogramError
from sleepvit.hypnogram import Hypnogram
from sleepvit.metrics.agreement import agreement, confusion_matrix, confusion_matrix_png
from sleepvit.metrics.sleep import sleep_statistics

# ---------------------------------------------------------------- agreement


def test_agreement_hand_computed():
    # true: W W N2 N2 REM   pred: W N2 N2 N2 REM   (the UNS epoch is dropped)
    result = agreement([0, 0, 2, 2, 4, -1], [0, 2, 2, 2, 4, 0])
    assert result["n_epochs"] == 5
    assert result["accuracy"] == pytest.approx(4 / 5)
    # chance agreement = (2·1 + 2·3 + 1·1) / 25 = 0.36; κ = (0.8 − 0.36) / 0.64
    assert result["kappa"] == pytest.approx(0.6875)
    assert result["per_stage"]["W"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert result["per_stage"]["N2"]["precision"] == pytest.approx(2 / 3)
    assert result["per_stage"]["N2"]["f1"] == pytest.approx(0.8)
    assert result["per_stage"]["REM"]["f1"] == 1.0
    assert result["per_stage"]["N1"]["f1"] is None  # in neither scoring
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)
    assert result["confusion_matrix"] == [
        [1, 0, 1, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 2, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1],
    ]


def test_agreement_drops_epochs_unscored_in_either_scoring():
    result = agreement([-1, 0, 1, 1], [3, 0, 1, -1])
    assert result["n_epochs"] == 2
    assert result["accuracy"] == 1.0
    assert result["per_stage"]["N3"]["f1"] is None  # the N3 was only predicted on a UNS epoch


def test_missed_stage_counts_as_zero_f1_in_macro_average():
    result = agreement([0, 1, 2], [0, 2, 2])  # N1 occurs but is never predicted
    assert result["per_stage"]["N1"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert result["macro_f1"] == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)


def test_kappa_undefined_when_both_scorings_use_one_stage():
    assert agreement([2, 2, 2], [2, 2, 2])["kappa"] is None


def test_agreement_is_json_ready():
    result = agreement(np.array([0, 1, 2, 3, 4]), np.array([0, 1, 2, 4, 4], dtype=np.int8))
    assert json.loads(json.dumps(result)) == result


def test_all_unscored_raises_user_error():
    with pytest.raises(HypnogramError, match="UNS"):
        agreement([-1, -1], [0, 1])


def test_length_mismatch_is_refused():
    with pytest.raises(ValueError, match="different numbers of epochs"):
        agreement([0, 1, 2], [0, 1])


stage_codes = st.lists(st.integers(min_value=-1, max_value=4), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_agreement_matches_sklearn(data):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y_true = np.array(data.draw(stage_codes))
    y_pred = np.array(
        data.draw(st.lists(st.integers(-1, 4), min_size=len(y_true), max_size=len(y_true)))
    )
    keep = (y_true != -1) & (y_pred != -1)
    if not keep.any():
        return
    t, p = y_true[keep], y_pred[keep]
    result = agreement(y_true, y_pred)

    assert result["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(t, p))
    assert result["macro_f1"] == pytest.approx(
        sklearn_metrics.f1_score(t, p, average="macro", zero_division=0)
    )
    assert (
        result["confusion_matrix"]
        == sklearn_metrics.confusion_matrix(t, p, labels=range(5)).tolist()
    )
    if result["kappa"] is not None:
        assert result["kappa"] == pytest.approx(sklearn_metrics.cohen_kappa_score(t, p))
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        t, p, labels=range(5), zero_division=0
    )
    for k, name in enumerate(("W", "N1", "N2", "N3", "REM")):
        stage = result["per_stage"][name]
        assert stage["support"] == support[k]
        if stage["f1"] is not None:
            assert (stage["precision"], stage["recall"], stage["f1"]) == pytest.approx(
                (precision[k], recall[k], f1[k])
            )


def test_confusion_matrix_counts_true_by_pred():
    cm = confusion_matrix([0, 0, 4], [4, 0, 4])
    assert cm[0, 4] == 1 and cm[0, 0] == 1 and cm[4, 4] == 1 and cm.sum() == 3


def test_confusion_matrix_png_written(tmp_path):
    out = confusion_matrix_png(
        agreement([0, 1, 2, 3, 4], [0, 2, 2, 3, 4])["confusion_matrix"], tmp_path / "cm.png"
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]  # no temp file left behind


def test_confusion_matrix_png_leaves_no_partial_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def crash(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", crash)
    with pytest.raises(OSError):
        confusion_matrix_png(np.eye(5, dtype=int), tmp_path / "cm.png")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- AASM sleep statistics

HAND_NIGHT = (
    "W W W N1 N2 N2 UNS N2 W W N2 N3 N3 REM REM W UNS W N2 REM W W"
).split()  # epochs 0..21; sleep onset = epoch 3, last sleep = epoch 19


def test_sleep_statistics_hand_computed():
    stats = sleep_statistics(Hypnogram.from_names(HAND_NIGHT))
    assert stats.tib_min == 11.0  # 22 epochs, UNS included
    assert stats.sleep_onset_latency_min == 1.5  # epochs 0-2
    assert stats.spt_min == 8.5  # epochs 3-19
    assert stats.tst_min == 5.5  # 11 sleep epochs
    assert stats.waso_min == 2.0  # W at 8, 9, 15, 17
    assert stats.spt_min == stats.tst_min + stats.waso_min + 1.0  # + UNS at 6 and 16
    assert stats.sleep_efficiency_pct == pytest.approx(50.0)
    assert stats.rem_latency_min == 5.0  # first REM at epoch 13, 10 epochs after onset
    assert (stats.n1_min, stats.n2_min, stats.n3_min, stats.rem_min) == (0.5, 2.5, 1.0, 1.5)
    assert stats.n2_pct_tst == pytest.approx(100 * 2.5 / 5.5)
    assert (stats.wake_min, stats.unscored_min) == (4.5, 1.0)
    # Bouts: [UNS] is an artefact, not an awakening; [W W] and [W UNS W] are awakenings.
    assert stats.awakenings == 2
    assert stats.stage_shifts == 10  # UNS skipped: ... N2 UNS N2 is no shift
    assert (stats.lights_off_s, stats.lights_on_s) == (0.0, 660.0)


def test_minimum_awakening_duration():
    hyp = Hypnogram.from_names(HAND_NIGHT)
    assert sleep_statistics(hyp, min_awakening_s=60).awakenings == 2  # both bouts hold 2 W
    assert sleep_statistics(hyp, min_awakening_s=90).awakenings == 0


def test_lights_off_and_on_crop_the_night():
    hyp = Hypnogram.from_names(HAND_NIGHT)
    stats = sleep_statistics(hyp, lights_off_s=60, lights_on_s=600)  # epochs 2-19 in bed
    assert stats.tib_min == 9.0
    assert stats.sleep_onset_latency_min == 0.5
    assert stats.sleep_efficiency_pct == pytest.approx(100 * 5.5 / 9.0)
    assert stats.wake_min == 2.5  # W at 2, 8, 9, 15, 17
    assert stats.stage_shifts == 9
    assert (stats.lights_off_s, stats.lights_on_s) == (60.0, 600.0)
    # An epoch is in bed when at least half of it is: lights off at 0:45 keeps epoch 1.
    assert sleep_statistics(hyp, lights_off_s=45).tib_min == 10.5
    assert sleep_statistics(hyp, lights_off_s=46).tib_min == 10.0


def test_lights_relative_to_recording_start_with_offset_hypnogram():
    hyp = Hypnogram.from_names(HAND_NIGHT, offset_s=300.0)  # scoring starts 5 min in
    stats = sleep_statistics(hyp, lights_off_s=360)
    assert stats.tib_min == 10.0 and stats.sleep_onset_latency_min == 0.5


def test_night_without_sleep_or_rem():
    awake = sleep_statistics(Hypnogram.from_names(["W"] * 10))
    assert awake.tst_min == 0.0 and awake.spt_min == 0.0 and awake.sleep_efficiency_pct == 0.0
    assert awake.sleep_onset_latency_min is None and awake.waso_min is None
    assert awake.n2_pct_tst is None and awake.awakenings == 0
    no_rem = sleep_statistics(Hypnogram.from_names(["W", "N1", "N2", "N3", "W"]))
    assert no_rem.rem_latency_min is None and no_rem.rem_pct_tst == 0.0


def test_statistics_to_dict_is_json_ready():
    data = sleep_statistics(Hypnogram.from_names(HAND_NIGHT)).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["tst_min"] == 5.5 and data["awakenings"] == 2


@pytest.mark.parametrize(
    ("off", "on", "problem"),
    [(600, 60, "not before lights on"), (5000, None, "no epoch"), (None, -10, "no epoch")],
)
def test_impossible_lights_times_are_user_errors(off, on, problem):
    with pytest.raises(HypnogramError, match=problem):
        sleep_statistics(Hypnogram.from_names(HAND_NIGHT), lights_off_s=off, lights_on_s=on)


SLEEP_EDF_HYPNOGRAMS = Path(__file__).resolve().parents[1] / "../shared/data/sleep-edf-hypnograms"


def _real_hypnograms() -> list[Hypnogram]:
    files = sorted(SLEEP_EDF_HYPNOGRAMS.glob("*.txt"))
    if not files:
        pytest.skip(f"Sleep-EDF hypnograms not found in {SLEEP_EDF_HYPNOGRAMS}")
    return [Hypnogram.from_names(f.read_text().strip().split(",")) for f in files]


def test_matches_yasa_on_real_sleep_edf_hypnograms():
    yasa = pytest.importorskip("yasa")
    hypnograms = _real_hypnograms()
    assert len(hypnograms) == 197
    with_uns_in_sleep_period = 0
    for hyp in hypnograms:
        ours = sleep_statistics(hyp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            theirs = yasa.sleep_statistics(hyp.stages, sf_hyp=1 / 30)
        # Same definitions: equal.
        for mine, yasa_key in [
            ("tib_min", "TIB"),
            ("spt_min", "SPT"),
            ("tst_min", "TST"),
            ("waso_min", "WASO"),
            ("sleep_onset_latency_min", "SOL"),
            ("sleep_efficiency_pct", "SE"),
            ("n1_min", "N1"),
            ("n2_min", "N2"),
            ("n3_min", "N3"),
            ("rem_min", "REM"),
            ("n1_pct_tst", "%N1"),
            ("n2_pct_tst", "%N2"),
            ("n3_pct_tst", "%N3"),
            ("rem_pct_tst", "%REM"),
        ]:
            assert getattr(ours, mine) == pytest.approx(theirs[yasa_key]), mine
        # REM latency: AASM counts from sleep onset, YASA from the start of the hypnogram.
        assert ours.rem_latency_min == pytest.approx(theirs["Lat_REM"] - theirs["SOL"])
        # UNS is out of TST and WASO but inside SPT, for both.
        first, last = np.flatnonzero(hyp.stages > 0)[[0, -1]]
        uns_in_spt = np.count_nonzero(hyp.stages[first : last + 1] == -1)
        assert ours.spt_min == pytest.approx(ours.tst_min + ours.waso_min + uns_in_spt / 2)
        # Awakenings vs YASA's sleep fragmentation index (sleep -> W transitions per hour
        # of TST), which also counts the final awakening after the last sleep epoch.
        if uns_in_spt:
            with_uns_in_sleep_period += 1
            continue
        sfi = yasa.Hypnogram(hyp.names(), n_stages=5, freq="30s").sleep_statistics()["SFI"]
        ends_awake = last + 1 < len(hyp) and hyp.stages[last + 1] == 0
        assert ours.awakenings == round(sfi * ours.tst_min / 60) - ends_awake
    assert with_uns_in_sleep_period < len(hypnograms)  # the relation was really checked


def test_lights_crop_matches_yasa_on_cropped_real_hypnogram():
    yasa = pytest.importorskip("yasa")
    hyp = _real_hypnograms()[0]
    ours = sleep_statistics(hyp, lights_off_s=20 * 60, lights_on_s=hyp.duration_s - 45 * 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = yasa.sleep_statistics(hyp.stages[40:-90], sf_hyp=1 / 30)
    assert ours.tib_min == theirs["TIB"] and ours.tst_min == theirs["TST"]
    assert ours.sleep_onset_latency_min == theirs["SOL"]
    assert ours.sleep_efficiency_pct == pytest.approx(theirs["SE"])
