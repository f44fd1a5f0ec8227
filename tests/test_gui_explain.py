"""The desktop app's explanations without a screen (issue 12, phase 2): STEM.relevance.npz and
the sidecar, neighbours and captum detail maps on request, the review queue of
sleepvit.explain, signal quality and gaps, and one app per review. The views are in
``test_gui_explain_views.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_gui_session import open_session

from sleepvit.cli import main as sleepvit_main
from sleepvit.errors import ModelError
from sleepvit.explain import DEFAULT_RANKING, NightExplanation
from sleepvit.gui.session.explanation import (
    NEIGHBOURS,
    ROLLOUT,
    ExplainJob,
    captum_installed,
    compute,
)
from sleepvit.gui.session.opening import OpenRequest, open_study
from sleepvit.gui.session.sidecar import SidecarLocked, sidecar_next_to
from sleepvit.hypnogram import UNS
from sleepvit.models.backends import load_backend

pytestmark = pytest.mark.usefixtures("user_folders")


@pytest.fixture(scope="module")
def scorer():
    return load_backend()


@pytest.fixture
def explained_study(tmp_path, study_copy) -> Path:
    """The hospital night with what ``sleepvit score --explain`` writes next to it."""
    assert (
        sleepvit_main(["score", str(study_copy), "--out", str(study_copy.parent), "--explain"]) == 0
    )
    assert (study_copy.parent / f"{study_copy.stem}.relevance.npz").is_file()
    return study_copy


# ---------------------------------------------------------------- the model, no screen


def test_a_night_scored_here_is_explained_and_queued_by_sleepvit_explain(study_copy, scorer):
    from sleepvit.explain import review_queue

    session = open_session(study_copy, scorer)
    explanation = session.explanation
    assert explanation is not None and explanation.night.relevance.shape[0] == 50
    ai = session.ai
    expected = review_queue(ai.probabilities, ai.epoch_vit, ai.stages)
    np.testing.assert_array_equal(session.queue.epochs, expected.epochs)
    assert session.queue.ordering == f"ranked by {DEFAULT_RANKING}"
    epoch = 10
    grid = session.relevance_grid(epoch)
    assert grid.shape == (len(explanation.slots), 15) and grid.sum() == pytest.approx(1, abs=1e-3)
    session.close()
    # Reopened: the explanation is in the review file, nothing is scored or explained again.
    again = open_session(study_copy)
    assert again.ai is not None and again.explanation is not None
    np.testing.assert_array_equal(again.queue.epochs, session.queue.epochs)
    np.testing.assert_allclose(again.relevance_grid(epoch), grid, atol=1e-3)  # float16 kept
    again.close()


def test_a_study_with_its_relevance_npz_opens_without_rescoring(explained_study, monkeypatch):
    import sleepvit.pipeline

    def never(*args, **kwargs):
        raise AssertionError("the night was scored again")

    monkeypatch.setattr(sleepvit.pipeline, "score_study", never)
    npz = explained_study.parent / f"{explained_study.stem}.relevance.npz"
    night = NightExplanation.load(npz)
    # Without the hypnogram CSV too: STEM.relevance.npz alone carries the AI scoring.
    (explained_study.parent / f"{explained_study.stem}.hypnogram.csv").unlink()
    session = open_session(explained_study)
    assert session.ai is not None and session.explanation is not None
    assert session.ai.info["source"] == str(npz)
    np.testing.assert_array_equal(session.ai.stages, night.stages)
    np.testing.assert_array_equal(session.queue.epochs, night.queue.epochs)
    np.testing.assert_array_equal(session.relevance_grid(3), night.relevance[3])
    session.close()


def test_an_explanation_of_another_scoring_is_not_shown(explained_study, scorer):
    npz = explained_study.parent / f"{explained_study.stem}.relevance.npz"
    night = NightExplanation.load(npz)
    night.stages[:5] = (night.stages[:5] + 1) % 5  # no longer the CSV's scoring
    night.save(npz)
    session = open_session(explained_study)
    assert session.ai is not None and session.explanation is None
    assert any("explains another scoring" in note for note in session.notes)
    assert session.relevance_grid(0) is None and session.explain_jobs() == []
    session.close()


def test_neighbours_and_detail_maps_are_computed_on_request(study_copy, scorer):
    session = open_session(study_copy, scorer)
    night = session.explanation.night
    session.go_to(25)
    assert session.explain_jobs() == [ExplainJob(NEIGHBOURS, 25)]
    neighbours = compute(ExplainJob(NEIGHBOURS, 25), session.study, night, scorer)
    session.take_explained(ExplainJob(NEIGHBOURS, 25), neighbours)
    assert session.explanation.neighbours(25).epoch == 25
    assert session.explain_jobs() == []
    shown = []
    session.explanation_changed.connect(lambda: shown.append(session.heatmap_visible))
    session.set_relevance_method("gradient")  # torch-free
    assert shown == [True] and session.shown_method(25) == ROLLOUT  # until it is computed
    job = ExplainJob("gradient", 25)
    assert session.explain_jobs() == [job]
    grid = compute(job, session.study, night, scorer)
    session.take_explained(job, grid)
    assert session.shown_method(25) == "gradient"
    np.testing.assert_array_equal(session.relevance_grid(25), grid)
    assert session.shown_method(24) == ROLLOUT  # other epochs keep their rollout
    np.testing.assert_array_equal(session.relevance_grid(24), night.relevance[24])
    session.close()


@pytest.mark.slow
@pytest.mark.skipif(not captum_installed(), reason="captum's maps need torch and captum")
def test_integrated_gradients_explain_the_stage_scored(study_copy, scorer):
    session = open_session(study_copy, scorer)
    grid = compute(ExplainJob("ig", 12), session.study, session.explanation.night, scorer)
    assert grid.shape == session.explanation.night.relevance[12].shape
    assert grid.sum() == pytest.approx(1, abs=1e-3) and (grid >= 0).all()
    session.close()


def test_neighbours_of_another_models_explanation_are_refused(study_copy, scorer):
    session = open_session(study_copy, scorer)
    night = session.explanation.night
    night.model["version"] = "0.0.0-other"
    with pytest.raises(ModelError, match="not with the loaded"):
        compute(ExplainJob(NEIGHBOURS, 3), session.study, night, scorer)
    session.close()


def test_unscored_epochs_gaps_and_lost_signals_are_known_to_the_session(gappy_study, scorer):
    session = open_session(gappy_study, scorer)
    gap = range(10, 20)  # 5 minutes in, 5 minutes long
    assert session.no_data_epochs()[list(gap)].all() and not session.no_data_epochs()[:10].any()
    assert session.gap_spans(0, 30 * session.n_epochs) == [(300, 600)]
    assert session.gap_spans(0, 300) == [] and session.gap_spans(400, 450) == [(400, 450)]
    assert all(session.ai.stages[e] == UNS and session.ai_stage(e) is None for e in gap)
    assert session.quality_reason(gap[0]) == "no data"
    assert session.relevance_grid(gap[0]) is None
    session.go_to(gap[0])
    assert session.explain_jobs() == []  # nothing to explain in a gap
    assert session.unusable_slots(5) == {"EOG_L": "flat"}
    assert session.quality_reason(5) == "scored without EOG_L (flat)"
    assert session.unusable_slots(0) == {} and session.quality_reason(0) == ""
    assert not set(gap) & set(session.queue.epochs.tolist())  # UNS epochs are never queued
    session.close()


def test_the_export_lists_the_queue_the_technician_walked(study_copy, crafted_ai, tmp_path):
    import json

    from pypdf import PdfReader

    from sleepvit.gui.session.export import export_review

    session = open_session(study_copy)
    session.set_ai(crafted_ai(50, {30: 0.5, 7: 0.3, 12: 0.55}))
    assert session.queue.epochs.tolist() == [7, 30, 12]
    assert session.queue.why(7) == ["low confidence"]
    written = export_review(session, tmp_path)
    summary = json.loads(written["summary"].read_text(encoding="utf-8"))
    queue = summary["confidence"]["review_queue"]
    assert queue["epochs"] == 3 and queue["ranking"] == DEFAULT_RANKING
    report = "".join(page.extract_text() for page in PdfReader(written["pdf"]).pages)
    assert "low confidence" in report
    session.close()


# ---------------------------------------------------------------- one app per review


def test_a_second_app_on_the_same_review_is_refused_with_a_clear_message(study_copy):
    first = open_session(study_copy)
    first.score_current(2)
    with pytest.raises(SidecarLocked, match="is open in another SleepViT"):
        open_study(OpenRequest(study_copy))
    first.close()
    again = open_session(study_copy)  # closed: free again, the edit kept
    assert again.review.stage(0) == 2
    again.close()


@pytest.mark.slow
def test_a_running_app_keeps_its_review_from_another_process(study_copy):
    """The real app in another process (the kill -9 test's driver): this one is refused,
    and once that app is killed, the review opens here with every edit."""
    driver = Path(__file__).with_name("review_driver.py")
    app = subprocess.Popen(
        [sys.executable, str(driver), str(study_copy), "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = iter(app.stdout.readline, "")
        assert next(line for line in lines if line.strip() == "READY")
        next(line for line in lines if line.startswith("ACK"))
        with pytest.raises(SidecarLocked) as refused:
            open_study(OpenRequest(study_copy))
        assert str(sidecar_next_to(study_copy)) in str(refused.value)
    finally:
        app.kill()
        app.wait(30)
    session = open_session(study_copy)
    assert session.review.audit  # the killed app's edits, and no stale lock
    session.close()
