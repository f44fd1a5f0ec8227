"""Agreement metrics and AASM sleep statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepvit.errors import HypnogramError
from sleepvit.metrics.agreement import agreement, confusion_matrix, confusion_matrix_png

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
