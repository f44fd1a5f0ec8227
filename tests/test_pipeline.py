"""Scoring a night (``sleepvit score``) and evaluating weights (``sleepvit evaluate``)."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest

from sleepvit.cli import main
from sleepvit.datasets.nights import NightRecord, write_manifest
from sleepvit.errors import SleepVitError
from sleepvit.evaluate import format_score
from sleepvit.hypnogram import STAGES
from sleepvit.models.backends import load_backend
from sleepvit.pipeline import score_night

torch = pytest.importorskip("torch")

CSV_COLUMNS = ["epoch", "onset_s", "stage", "confidence"]
CSV_COLUMNS += ["p_W", "p_N1", "p_N2", "p_N3", "p_REM", "reason"]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory, save_tiny_weights):
    """An untrained but complete weights folder: scoring must work whatever the weights."""
    return save_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny", depth=1)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_score_writes_one_csv_row_per_epoch_and_leaves_the_edf_untouched(
    tmp_path, capsys, tiny_weights, hospital_night, fixture_stages
):
    edf, _ = hospital_night
    before = _sha(edf)
    args = ["score", str(edf), "--out", str(tmp_path), "--weights", str(tiny_weights)]
    assert main([*args, "--backend", "torch"]) == 0
    assert _sha(edf) == before

    with open(tmp_path / f"{edf.stem}.hypnogram.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == CSV_COLUMNS
    assert len(rows) == len(fixture_stages)
    assert [float(r["onset_s"]) for r in rows[:3]] == [0.0, 30.0, 60.0]
    for row in rows:
        p = np.array([float(row[f"p_{s}"]) for s in STAGES])
        assert p.sum() == pytest.approx(1.0, abs=1e-3)
        assert row["stage"] == STAGES[int(p.argmax())]
        assert float(row["confidence"]) == pytest.approx(p.max(), abs=1e-3)
        assert row["reason"] == ""  # every signal of the simulated night is readable

    printed = capsys.readouterr().out
    assert f"{len(fixture_stages)} epochs" in printed and "mean confidence" in printed


def test_score_night_returns_probabilities_of_the_calibrated_sequence_model(
    tiny_weights, sleep_edf_night, fixture_stages
):
    edf, _ = sleep_edf_night
    hyp = score_night(edf, weights=tiny_weights, backend="torch")
    assert len(hyp) == len(fixture_stages)
    assert np.allclose(hyp.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(hyp.stages, hyp.probabilities.argmax(axis=1))
    assert hyp.metadata["model"] == "tiny" and hyp.metadata["backend"] == "torch"
    assert "EEG_F" in hyp.metadata["channels"]  # Fpz-Cz feeds the frontal row


def test_unknown_backend_and_missing_weights_are_one_line_errors(
    tmp_path, capsys, tiny_weights, hospital_night
):
    with pytest.raises(SleepVitError, match="backend"):
        load_backend(tiny_weights, "no-such-backend")

    edf, _ = hospital_night
    missing = tmp_path / "no-weights"
    args = ["score", str(edf), "--out", str(tmp_path), "--weights", str(missing)]
    code = main([*args, "--backend", "torch"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and str(missing) in err
    assert "\n" not in err
    assert not list(tmp_path.glob("*.csv"))


def test_evaluate_writes_confusion_matrices_per_night_table_and_model_card(
    tmp_path, capsys, tiny_weights, hospital_night, sleep_edf_night, fixture_stages
):
    records = [
        NightRecord(*hospital_night, subject="a", split="test"),
        NightRecord(*sleep_edf_night, subject="b", split="test"),
    ]
    manifest = write_manifest(records, tmp_path / "manifest.csv")
    out = tmp_path / "eval"
    args = ["evaluate", str(tiny_weights), "--data", str(manifest), "--split", "test"]
    code = main([*args, "--out", str(out), "--cache", str(tmp_path / "cache"), "--model-card"])
    assert code == 0

    result = json.loads((out / "evaluation.json").read_text())
    for key in ("epoch_vit", "with_sequence"):
        cm = np.array(result[key]["confusion_matrix"])
        assert cm.shape == (5, 5)
        assert cm.sum(axis=1).tolist() == [2 * fixture_stages.count(s) for s in STAGES]
        assert (out / f"confusion_{key}.png").read_bytes()[:4] == b"\x89PNG"
    assert result["n_nights"] == 2 and 0.0 <= result["ece"] <= 1.0

    with open(out / "per_night.csv", newline="") as f:
        nights = list(csv.DictReader(f))
    assert [n["night"] for n in nights] == [hospital_night[0].stem, sleep_edf_night[0].stem]
    assert all(int(n["epochs"]) == len(fixture_stages) for n in nights)
    assert "with_sequence" in capsys.readouterr().out

    card = (tiny_weights / "MODEL_CARD.md").read_text()
    assert "not validated on patients" in card
    kappa = format_score(result["with_sequence"]["kappa"])
    assert f"| EpochViT + sequence | {kappa} |" in card
