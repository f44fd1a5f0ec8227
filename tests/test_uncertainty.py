"""Confidence a technician can act on: review efficiency, error ranking, calibration, OOD."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pypdf import PdfReader
from sklearn.metrics import roc_auc_score

from sleepvit.calibrate import night_threshold
from sleepvit.cli import main
from sleepvit.datasets.nights import DataSetError, NightRecord, write_manifest
from sleepvit.errors import ModelError
from sleepvit.metrics.agreement import agreement
from sleepvit.metrics.error_detection import error_auroc
from sleepvit.metrics.review_efficiency import (
    kappa_after_review,
    review_curve,
    review_efficiency,
    review_fraction,
    review_table,
)
from sleepvit.models.ood import EmbeddingReference
from sleepvit.models.uncertainty import UncertaintyCalibration


def _scoring(seed: int, n: int = 300, error_rate: float = 0.3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, n)
    wrong = rng.random(n) < error_rate
    predicted = np.where(wrong, (truth + rng.integers(1, 5, n)) % 5, truth)
    return truth, predicted, wrong


def test_kappa_after_review_equals_agreement_of_the_corrected_night():
    truth, predicted, _ = _scoring(0, n=120)
    doubt = np.random.default_rng(1).random(120)
    kappas = kappa_after_review(truth, predicted, doubt)
    order = np.argsort(-doubt, kind="stable")
    for k in (0, 1, 7, 30, 77, 120):
        corrected = predicted.copy()
        corrected[order[:k]] = truth[order[:k]]
        assert kappas[k] == pytest.approx(agreement(truth, corrected)["kappa"], abs=1e-12)


def test_a_perfect_ranking_reaches_kappa_one_after_exactly_the_wrong_epochs():
    truth, predicted, wrong = _scoring(2)
    perfect = review_efficiency(truth, predicted, wrong.astype(float), goals=(1.0,))
    assert perfect["review_for_kappa_100"] == pytest.approx(wrong.mean())
    ordered = kappa_after_review(truth, predicted, wrong.astype(float))
    assert ordered[int(wrong.sum()) - 1] < 1.0 and ordered[int(wrong.sum())] == 1.0
    # The worst ranking (right epochs first) has to go through the whole night.
    assert review_fraction(truth, predicted, (~wrong).astype(float), goal=1.0) == 1.0
    # A random ranking sits in between, and κ 0.90 takes more than a perfect ranking does.
    coin = np.random.default_rng(3).random(truth.size)
    assert wrong.mean() < review_fraction(truth, predicted, coin, 0.9) < 1.0


def test_review_curve_starts_at_the_models_kappa_ends_at_one_and_skips_unscored():
    truth, predicted, wrong = _scoring(4)
    truth[:10] = -1  # unscored by the expert: neither counted nor reviewed
    curve = review_curve(truth, predicted, np.random.default_rng(5).random(truth.size))
    assert len(curve) == 101
    assert curve[0] == pytest.approx(agreement(truth, predicted)["kappa"])
    assert curve[-1] == 1.0
    assert review_efficiency(truth, predicted, wrong)["epochs"] == truth.size - 10


def test_review_table_pools_the_epochs_of_its_nights():
    nights = [_scoring(seed) for seed in (6, 7, 8)]
    nights = [(t, p, w.astype(float)) for t, p, w in nights]
    table = review_table({"a": nights[:1], "b": nights[1:]})
    pooled = review_efficiency(*(np.concatenate(x) for x in zip(*nights, strict=True)))
    assert table["pooled"] == pooled
    assert table["a"] == review_efficiency(*nights[0])
    with pytest.raises(ValueError, match="pooled"):
        review_table({"pooled": nights})


def test_error_auroc_matches_scikit_learn_with_ties():
    truth, predicted, wrong = _scoring(9)
    doubt = np.round(np.where(wrong, 0.3, 0.0) + np.random.default_rng(10).random(truth.size), 1)
    expected = roc_auc_score(wrong, doubt)
    assert error_auroc(truth, predicted, doubt) == pytest.approx(expected)
    assert error_auroc(truth, predicted, -doubt) == pytest.approx(1 - expected)


def test_embedding_reference_scores_shifted_embeddings_higher_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 3000)
    embeddings = rng.normal(size=(3000, 16)) + 3.0 * np.eye(5, 16)[labels]
    reference = EmbeddingReference.fit(embeddings, labels)
    test = rng.normal(size=(500, 16)) + 3.0 * np.eye(5, 16)[rng.integers(0, 5, 500)]
    like = reference.night_score(test)
    assert reference.night_score(2.5 * test) > 1.5 * like
    assert reference.night_score(test + 3.0) > 1.5 * like
    reference.save(tmp_path)
    back = EmbeddingReference.load(tmp_path)
    assert back.night_score(test) == pytest.approx(like, rel=1e-4)
    assert EmbeddingReference.load(tmp_path / "missing") is None
    with pytest.raises(ModelError, match="lack a stage"):
        EmbeddingReference.fit(embeddings[labels != 3], labels[labels != 3])


def test_night_threshold_separates_bad_from_good_nights_and_needs_both():
    scores = [8.0, 9.0, 10.0, 16.0, 19.0, 12.0]
    kappas = [0.95, 0.9, 0.8, 0.3, 0.1, 0.6]  # the 0.6 night counts for neither
    threshold = night_threshold(scores, kappas)
    assert 10.0 < threshold < 16.0
    with pytest.raises(DataSetError, match="κ < 0.5"):
        night_threshold(scores[:3], kappas[:3])


def test_a_corrupt_calibration_file_is_one_line_naming_the_fix(tmp_path):
    assert UncertaintyCalibration.load(tmp_path) is None
    (tmp_path / "uncertainty.json").write_text("{not json")
    with pytest.raises(ModelError, match="sleepvit calibrate") as error:
        UncertaintyCalibration.load(tmp_path)
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory, save_tiny_weights):
    """An untrained but complete weights folder (the scoring tests need torch; the metrics do
    not)."""
    pytest.importorskip("torch")
    return save_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny", depth=1)


def _calibrated_copy(
    tiny_weights, tmp_path, night_threshold_value: float, ood_stages_from: str = "epoch_vit"
):
    """The tiny weights with a reference fitted on random embeddings, a chosen threshold and a
    chosen output for the nights that fire."""
    import shutil

    folder = tmp_path / "calibrated"
    shutil.copytree(tiny_weights, folder)
    rng = np.random.default_rng(0)
    dim = json.loads((folder / "config.json").read_text())["epoch_vit"]["dim"]
    EmbeddingReference.fit(rng.normal(size=(500, dim)), np.arange(500) % 5).save(folder)
    UncertaintyCalibration(
        1.0, 1.0, night_threshold_value, 5.0, {"test": True}, ood_stages_from
    ).save(folder)
    return folder


@pytest.mark.parametrize("fires", [True, False])
def test_score_warns_in_one_line_and_json_and_report_carry_the_verdict(
    tmp_path, caplog, tiny_weights, hospital_night, fires
):
    weights = _calibrated_copy(tiny_weights, tmp_path, -1.0 if fires else 1e9)
    edf, _ = hospital_night
    out = tmp_path / "out"
    args = ["score", str(edf), "--out", str(out), "--weights", str(weights), "--backend", "torch"]
    assert main(args) == 0
    warned = [r.getMessage() for r in caplog.records if "unlike the training" in r.getMessage()]
    assert len(warned) == (1 if fires else 0) and not any("\n" in line for line in warned)

    summary = json.loads((out / f"{edf.stem}.summary.json").read_text())
    ood = summary["ood"]
    assert ood["fired"] is fires and ood["threshold"] == (-1.0 if fires else 1e9)
    assert ood["verdict"] == ("unlike the training data" if fires else "like the training data")
    assert ood["score"] > 0
    assert summary["model"]["stages_from"] == ("epoch_vit" if fires else "sequence")
    page_one = PdfReader(out / f"{edf.stem}.report.pdf").pages[0].extract_text()
    assert ("Warning: recording unlike the training data" in page_one) is fires


@pytest.mark.parametrize("fires", [True, False])
def test_a_night_unlike_the_training_data_is_staged_by_epoch_vit_alone(
    tmp_path, tiny_weights, hospital_night, fires
):
    from sleepvit.io import load_study
    from sleepvit.models.backends import load_backend
    from sleepvit.pipeline import score_study

    weights = _calibrated_copy(tiny_weights, tmp_path, -1.0 if fires else 1e9)
    hypnogram, scores = score_study(load_study(hospital_night[0]), load_backend(weights, "torch"))
    expected = scores.epoch_vit if fires else scores.sequence
    np.testing.assert_array_equal(hypnogram.probabilities, expected)
    np.testing.assert_array_equal(hypnogram.stages, expected.argmax(axis=1))
    assert hypnogram.metadata["stages_from"] == ("epoch_vit" if fires else "sequence")
    assert not np.array_equal(scores.epoch_vit, scores.sequence)  # the choice is visible


def test_weights_calibrated_to_keep_the_sequence_model_keep_it_on_a_night_that_fires(
    tmp_path, tiny_weights, hospital_night
):
    from sleepvit.io import load_study
    from sleepvit.models.backends import load_backend
    from sleepvit.pipeline import score_study

    weights = _calibrated_copy(tiny_weights, tmp_path, -1.0, ood_stages_from="sequence")
    hypnogram, scores = score_study(load_study(hospital_night[0]), load_backend(weights, "torch"))
    assert hypnogram.metadata["ood"]["fired"]
    np.testing.assert_array_equal(hypnogram.probabilities, scores.sequence)
    assert hypnogram.metadata["stages_from"] == "sequence"


def test_a_calibration_written_before_the_stage_source_was_measured_keeps_epoch_vit(tmp_path):
    fitted = UncertaintyCalibration(1.4, 1.9, 6.5, 11.0, {"nights": 10})
    data = json.loads(fitted.save(tmp_path).read_text())
    del data["ood_stages_from"]
    (tmp_path / "uncertainty.json").write_text(json.dumps(data))
    assert UncertaintyCalibration.load(tmp_path).ood_stages_from == "epoch_vit"


def test_uncalibrated_weights_score_without_a_verdict(tmp_path, tiny_weights, hospital_night):
    edf, _ = hospital_night
    out = tmp_path / "out"
    assert main(["score", str(edf), "--out", str(out), "--weights", str(tiny_weights),
                 "--backend", "torch"]) == 0  # fmt: skip
    assert json.loads((out / f"{edf.stem}.summary.json").read_text())["ood"] is None


def test_calibrate_refuses_test_nights_and_needs_bad_and_good_nights(
    tmp_path, capsys, tiny_weights, hospital_night, sleep_edf_night
):
    import shutil

    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    reference = write_manifest(
        [NightRecord(*hospital_night, subject="a", split="train")], tmp_path / "reference.csv"
    )
    tested = write_manifest(
        [NightRecord(*sleep_edf_night, subject="b", split="test")], tmp_path / "tested.csv"
    )
    base = ["calibrate", str(weights), "--reference", str(reference), "--backend", "torch"]
    base += ["--cache", str(tmp_path / "cache")]
    assert main([*base, "--data", str(tested)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "test nights" in err and "\n" not in err

    # An untrained model scores every night badly: no good night to stay quiet on.
    calibration = write_manifest(
        [NightRecord(*sleep_edf_night, subject="b", split="val")], tmp_path / "calibration.csv"
    )
    assert main([*base, "--data", str(calibration)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bars
    assert err.startswith("error:") and "κ ≥ 0.7" in err
    assert not (weights / "uncertainty.json").exists()


def test_evaluate_reports_review_efficiency_rankings_calibration_and_ood(
    tmp_path, tiny_weights, hospital_night, sleep_edf_night
):
    from sleepvit.evaluate import evaluate
    from sleepvit.explain.review import RANKINGS

    weights = _calibrated_copy(tiny_weights, tmp_path, -1.0)  # fires on every night
    records = [
        NightRecord(*hospital_night, subject="a", split="test"),
        NightRecord(*sleep_edf_night, subject="b", split="test"),
    ]
    manifest = write_manifest(records, tmp_path / "manifest.csv")
    result = evaluate(weights, manifest, out=tmp_path / "eval", cache_dir=tmp_path / "cache")
    metrics = result.metrics
    table = metrics["review_efficiency"]
    assert list(table) == [hospital_night[0].stem, sleep_edf_night[0].stem, "pooled"]
    pooled = table["pooled"]
    assert len(pooled["curve"]) == 101 and pooled["curve"][-1] == 1.0
    assert pooled["kappa"] == pytest.approx(metrics["with_sequence"]["kappa"])
    assert 0.0 <= pooled["review_for_kappa_080"] <= pooled["review_for_kappa_090"] <= 1.0
    assert set(metrics["rankings"]) == set(RANKINGS)
    assert 0.0 <= metrics["ece_epoch_vit"] <= 1.0
    assert metrics["ood"]["fired"] == 2 and metrics["ood"]["threshold"] == -1.0
    assert all(row["ood_fired"] for row in result.per_night)
    text = result.format()
    assert "review→κ0.90" in text and "fired on 2 of 2 nights" in text
    saved = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert saved["review_efficiency"]["pooled"] == pooled
