"""sleepvit.explain with the shipped weights in ONNX Runtime: grids, neighbours, queue, npz, CLI.

Everything here runs without torch; the sanity checks that need captum or train models are in
``test_explain_sanity.py``.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pypdf import PdfReader

from sleepvit.cli import main
from sleepvit.errors import SleepVitError
from sleepvit.explain import (
    RANKINGS,
    EpochRelevance,
    NightExplanation,
    Reason,
    neighbour_relevance,
    relevance,
    review_queue,
)
from sleepvit.hypnogram import UNS
from sleepvit.io import load_study
from sleepvit.models.backends import average_windows, load_backend, sliding_windows, softmax
from sleepvit.pipeline import score_study


@pytest.fixture(scope="module")
def backend():
    return load_backend(None, "onnx-int8", threads=1)


@pytest.fixture(scope="module")
def scored(backend, hospital_night):
    study = load_study(hospital_night[0])
    hypnogram, scores = score_study(study, backend, relevance=True)
    return study, hypnogram, scores


@pytest.fixture(scope="module")
def exact(hospital_night):
    """fp32 backend and its scoring: int8 activations are quantised per batch (dynamic
    quantisation), so a window run in another batch moves by a few 1e-4 once the calibrated
    temperature softens the probabilities, more than the exactness checks allow."""
    backend = load_backend(None, "onnx-fp32", threads=1)
    return backend, score_study(load_study(hospital_night[0]), backend)


# ---------------------------------------------------------------- relevance grids


def test_night_grids_come_from_the_scoring_pass_and_match_the_rollout(backend, scored):
    study, hypnogram, scores = scored
    from sleepvit.rendering import render_epochs

    rendered = render_epochs(study, backend.render_config, range(5))
    alone = relevance(backend, rendered.images, rendered.present, rendered.config)
    vit = backend.config.epoch_vit
    assert scores.relevance.shape == (len(hypnogram), vit.n_slots, vit.n_cols)
    # int8 activations are quantized per batch: another batch moves the maps a little.
    np.testing.assert_allclose(scores.relevance[:5], alone, rtol=0.03, atol=1e-4)
    np.testing.assert_allclose(alone.sum(axis=(1, 2)), 1.0, atol=1e-5)
    without, _ = score_study(study, backend)
    np.testing.assert_array_equal(without.stages, hypnogram.stages)


def test_per_second_profile_follows_the_columns_whatever_their_width():
    grid = np.zeros((2, 10))  # 3-s columns
    grid[0, 2] = 1.0
    r = EpochRelevance(grid, ("EEG_C", "EOG_L"), epoch_s=30.0)
    profile = r.per_second()
    assert r.column_s == 3.0 and r.top_seconds == (6.0, 9.0)
    np.testing.assert_allclose(profile[6:9], 1 / 3, rtol=1e-6)
    assert profile.sum() == pytest.approx(1.0) and profile[:6].sum() == 0


def test_unknown_relevance_method_is_refused(backend):
    with pytest.raises(ValueError, match="rollout"):
        relevance(backend, np.zeros((1, 176, 240), np.uint8), np.ones(11, bool), None, "lrp")


# ---------------------------------------------------------------- neighbours


def test_neighbour_relevance_is_the_night_rescored_without_that_neighbour(exact):
    """Checked against the backends' own sliding windows with one epoch masked night-wide."""
    backend, (hypnogram, scores) = exact
    context, n = backend.config.sequence.context, len(hypnogram)
    for epoch in (0, 24, n - 1):
        r = neighbour_relevance(backend, scores.embeddings, epoch)
        assert r.stage == int(scores.sequence[epoch].argmax())
        inside = [d for d in range(-(context - 1), context) if d and 0 <= epoch + d < n]
        assert r.offsets.tolist() == inside
        for i in (0, len(inside) // 2, len(inside) - 1):
            windows, valid, pad = sliding_windows(scores.embeddings, context)
            valid = valid.copy()
            hidden = epoch + int(r.offsets[i]) + pad  # padded index of the neighbour
            for w in range(len(windows)):
                if 0 <= hidden - w < context:
                    valid[w, hidden - w] = False
            logits = backend.window_logits(windows, valid)
            without = average_windows(softmax(logits, backend.temperature), n, pad)[epoch]
            expected = scores.sequence[epoch, r.stage] - without[r.stage]
            assert r.delta[i] == pytest.approx(float(expected), abs=2e-5)
    assert np.abs(neighbour_relevance(backend, scores.embeddings, 24).delta).max() > 0


def test_neighbour_relevance_leaves_out_the_epochs_the_night_was_not_scored_on(exact):
    """An epoch without readable EEG (UNS) is out of every window, as in the scoring."""
    backend, (_, scores) = exact
    keep = np.ones(len(scores.embeddings), bool)
    keep[[20, 26]] = False
    scored_without = backend.sequence_probabilities(scores.embeddings, keep=keep)
    r = neighbour_relevance(backend, scores.embeddings, 24, keep=keep)
    assert -4 not in r.offsets.tolist() and 2 not in r.offsets.tolist()
    windows, valid, pad = sliding_windows(scores.embeddings, backend.config.sequence.context, keep)
    valid = valid.copy()
    hidden = 24 + int(r.offsets[0]) + pad
    for w in range(len(windows)):
        if 0 <= hidden - w < valid.shape[1]:
            valid[w, hidden - w] = False
    logits = backend.window_logits(windows, valid)
    without = average_windows(softmax(logits, backend.temperature), len(keep), pad)[24]
    assert r.delta[0] == pytest.approx(
        float(scored_without[24, r.stage] - without[r.stage]), abs=2e-5
    )
    with pytest.raises(ValueError, match="not scored"):
        neighbour_relevance(backend, scores.embeddings, 20, keep=keep)


# ---------------------------------------------------------------- review queue


def _probabilities(stages, confidence=0.9):
    p = np.full((len(stages), 5), (1 - confidence) / 4, np.float32)
    p[np.arange(len(stages)), stages] = confidence
    return p


def test_queue_holds_low_confidence_disagreement_and_changed_transitions():
    sequence = _probabilities([2, 2, 2, 4, 4, 4, 4, 2])
    sequence[1] = [0.1, 0.35, 0.45, 0.05, 0.05]  # N2 but unsure
    epoch_vit = _probabilities([2, 2, 2, 2, 4, 4, 1, 2])  # REM starts later; a blip of N1
    queue = review_queue(sequence, epoch_vit)
    reasons = {int(e): Reason(int(r)) for e, r in zip(queue.epochs, queue.reasons, strict=True)}
    assert reasons[1] == Reason.LOW_CONFIDENCE
    assert Reason.DISAGREEMENT in reasons[3] and Reason.CHANGED_TRANSITION in reasons[3]
    assert Reason.CHANGED_TRANSITION in reasons[4]  # where the screen alone starts REM
    assert Reason.DISAGREEMENT in reasons[6] and Reason.CHANGED_TRANSITION in reasons[6]
    assert 7 not in reasons  # both hypnograms change stage there: the same transition
    assert 0 not in reasons and 2 not in reasons and 5 not in reasons
    assert queue.coverage == pytest.approx(len(reasons) / 8)
    assert np.all(np.diff(queue.doubt) <= 0)


def test_queue_skips_unscored_epochs_and_never_calls_the_edge_of_a_gap_a_transition():
    sequence = _probabilities([2, 2, 2, 2, 2, 2])
    sequence[1] = [0.3, 0.3, 0.4, 0.0, 0.0]
    sequence[4] = np.nan  # not covered by the scoring
    stages = np.array([2, UNS, 2, 2, UNS, 2])  # epoch 1: a flat signal, scored UNS
    queue = review_queue(sequence, sequence, stages)
    assert queue.epochs.tolist() == [] and queue.n_scored == 4


def test_ranking_signal_is_a_parameter_and_orders_the_queue():
    sequence = _probabilities([0, 0, 0], confidence=0.5)
    sequence[0] = [0.55, 0.45, 0, 0, 0]  # a narrow margin
    sequence[1] = [0.50, 0.2, 0.1, 0.1, 0.1]  # the least confident, wider margin
    epoch_vit = sequence.copy()
    epoch_vit[2] = [0.0, 1.0, 0, 0, 0]  # the screen alone disagrees strongly
    by = {
        name: review_queue(sequence, epoch_vit, ranking=name).epochs.tolist() for name in RANKINGS
    }
    assert by["margin"][0] == 0
    assert by["disagreement"][0] == 2
    assert sorted(by["confidence"]) == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown ranking"):
        review_queue(sequence, epoch_vit, ranking="random")


# ---------------------------------------------------------------- the night file


def test_relevance_file_round_trips_everything_the_gui_needs(backend, scored, tmp_path):
    study, hypnogram, scores = scored
    night = NightExplanation.from_scores(scores, hypnogram.stages, backend, study)
    path = night.save(tmp_path / "night.relevance.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["night.relevance.npz"]  # no temp left
    with np.load(path, allow_pickle=False) as data:
        assert data["relevance"].dtype == np.float16
        assert data["relevance"].shape == (len(hypnogram), 11, 15)
    back = NightExplanation.load(path)
    np.testing.assert_allclose(back.relevance, night.relevance, atol=1e-3)
    np.testing.assert_array_equal(back.queue.epochs, night.queue.epochs)
    assert back.queue.ranking == night.queue.ranking and back.slots == night.slots
    assert back.channels["EEG_C"] == study.signals["EEG_C"].label
    assert back.model["render_config"] == backend.render_config.fingerprint()
    # Neighbour relevance needs no EpochViT pass: the embeddings are in the file.
    again = neighbour_relevance(backend, back.embeddings, 24)
    np.testing.assert_allclose(
        again.delta, neighbour_relevance(backend, scores.embeddings, 24).delta
    )


def test_a_broken_relevance_file_is_one_clear_error(tmp_path):
    path = tmp_path / "night.relevance.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(SleepVitError, match="score the night again"):
        NightExplanation.load(path)


def test_score_explain_writes_the_relevance_file_with_the_set(hospital_night, tmp_path):
    edf, _ = hospital_night
    assert main(["score", str(edf), "--out", str(tmp_path), "--explain"]) == 0
    night = NightExplanation.load(tmp_path / f"{edf.stem}.relevance.npz")
    assert len(night) == 50
    text = "".join(
        page.extract_text() for page in PdfReader(tmp_path / f"{edf.stem}.report.pdf").pages
    )
    assert f"The queue covers {night.queue.coverage:.1%}" in text
    import json

    summary = json.loads((tmp_path / f"{edf.stem}.summary.json").read_text())
    assert summary["confidence"]["review_queue"]["epochs"] == len(night.queue)
    # Without --explain the set is complete without it; with it, the file is part of the set.
    from sleepvit.outputs import outputs_complete

    (tmp_path / f"{edf.stem}.relevance.npz").unlink()
    assert outputs_complete(tmp_path, edf.stem)
    assert not outputs_complete(tmp_path, edf.stem, explain=True)


# ---------------------------------------------------------------- sleepvit explain


def _explain(torch_free_prelude, edf, out, *extra):
    argv = ["explain", str(edf), "--epoch", "25", "--out", str(out), *extra]
    script = torch_free_prelude + f"from sleepvit.cli import main\nraise SystemExit(main({argv!r}))"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


@pytest.mark.parametrize("method", ["rollout", "gradient"])
def test_explain_draws_a_screen_size_picture_without_torch(
    torch_free_prelude, hospital_night, tmp_path, method
):
    from PIL import Image

    result = _explain(
        torch_free_prelude, hospital_night[0], tmp_path / "e25.png", "--method", method
    )
    assert result.returncode == 0, result.stderr
    assert "epoch 25:" in result.stdout
    assert Image.open(tmp_path / "e25.png").size == (1920, 1080)


def test_explain_with_captum_but_no_torch_is_one_clear_error(
    torch_free_prelude, hospital_night, tmp_path
):
    result = _explain(torch_free_prelude, hospital_night[0], tmp_path / "e.png", "--method", "ig")
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "pip install 'sleepvit[train]'" in result.stderr
    assert "--method" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "e.png").exists()


def test_explain_refuses_an_epoch_outside_the_night(hospital_night, tmp_path, capsys):
    assert (
        main(["explain", str(hospital_night[0]), "--epoch", "51", "--out", str(tmp_path / "x.png")])
        == 2
    )
    assert "epochs 1-50" in capsys.readouterr().err


def test_model_card_sets_the_drivers_of_each_stage_against_the_aasm_rules():
    from sleepvit.hypnogram import STAGES
    from sleepvit.train.model_card import model_card

    stage = {"f1": 0.8}
    metrics = {"kappa": 0.7, "macro_f1": 0.6, "accuracy": 0.8, "n_epochs": 10,
               "per_stage": {s: stage for s in STAGES}}  # fmt: skip
    shares = {"EEG_F": 0.5, "EEG_C": 0.3, "EOG_L": 0.2, "epochs": 40}
    config = {"name": "demo", "version": "0", "epoch_vit": {}, "sequence": {}, "training": {}}
    evaluation = {"epoch_vit": metrics, "with_sequence": metrics, "n_nights": 1,
                  "relevance_by_stage": {"gradient": {"N3": shares}}}  # fmt: skip
    card = model_card(config, evaluation)
    assert "## What drives each stage" in card
    assert (
        "| N3 | 40 | EEG_F 50%, EEG_C 30%, EOG_L 20% | frontal slow waves > 75 µV | 1 of 1 |"
        in card
    )
    assert "What drives" not in model_card(config, evaluation | {"relevance_by_stage": {}})
