"""The desktop app's explanations (issue 12, phase 2): the heatmap, relevance per signal,
neighbours, captum detail maps, the review queue of sleepvit.explain, STEM.relevance.npz,
signal quality and gaps on the screen, and one app per review. The model part runs without a
screen; the views run offscreen with pytest-qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sleepvit.cli import main as sleepvit_main
from sleepvit.errors import ModelError
from sleepvit.explain import NightExplanation
from sleepvit.gui.session.explanation import (
    NEIGHBOURS,
    ROLLOUT,
    ExplainJob,
    captum_installed,
    compute,
)
from sleepvit.gui.session.opening import OpenRequest, open_study
from sleepvit.gui.session.scoring import score_study_for_review
from sleepvit.gui.session.session import StudySession
from sleepvit.gui.session.sidecar import SidecarLocked, sidecar_next_to
from sleepvit.hypnogram import UNS
from sleepvit.models.backends import load_backend

pytestmark = pytest.mark.usefixtures("user_folders")
TIMEOUT_MS = 120_000
GAP_AFTER_S, GAP_S = 300, 300
FLAT_EOG = slice(120 * 256, 240 * 256)
"""E1 flat from 2 to 4 minutes: epochs 5–8 are scored without it."""


@pytest.fixture(scope="module")
def scorer():
    return load_backend()


def open_session(path: Path, scorer=None) -> StudySession:
    opened = open_study(OpenRequest(path))
    session = StudySession(opened, reviewer="anna")
    if session.ai is None and scorer is not None:
        session.set_ai(*score_study_for_review(opened.study, scorer))
    return session


@pytest.fixture
def explained_study(tmp_path, study_copy) -> Path:
    """The hospital night with what ``sleepvit score --explain`` writes next to it."""
    assert (
        sleepvit_main(["score", str(study_copy), "--out", str(study_copy.parent), "--explain"]) == 0
    )
    assert (study_copy.parent / f"{study_copy.stem}.relevance.npz").is_file()
    return study_copy


@pytest.fixture
def gappy_study(tmp_path) -> Path:
    """10 minutes with E1 flat for two of them, then a 5-minute interruption (EDF+D)."""
    from test_hostile import _discontinuous, _eeg, _montage, _write

    eog = _eeg(256, 600)
    eog[FLAT_EOG] = 0.0
    edf = _write(tmp_path / "gappy.edf", _montage(E1=eog))
    _discontinuous(edf, gap_after_s=GAP_AFTER_S, gap_s=GAP_S)
    return edf


# ---------------------------------------------------------------- the model, no screen


def test_a_night_scored_here_is_explained_and_queued_by_sleepvit_explain(study_copy, scorer):
    from sleepvit.explain import review_queue

    session = open_session(study_copy, scorer)
    explanation = session.explanation
    assert explanation is not None and explanation.night.relevance.shape[0] == 50
    ai = session.ai
    expected = review_queue(ai.probabilities, ai.epoch_vit, ai.stages)
    np.testing.assert_array_equal(session.queue.epochs, expected.epochs)
    assert session.queue.ordering == "ranked by confidence+disagreement"
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
    gap = range(GAP_AFTER_S // 30, (GAP_AFTER_S + GAP_S) // 30)
    assert session.no_data_epochs()[list(gap)].all() and not session.no_data_epochs()[:10].any()
    assert session.gap_spans(0, 30 * session.n_epochs) == [(GAP_AFTER_S, GAP_AFTER_S + GAP_S)]
    assert session.gap_spans(0, GAP_AFTER_S) == []
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
    assert queue["epochs"] == 3 and queue["ranking"] == "confidence+disagreement"
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


# ---------------------------------------------------------------- the views, offscreen

pytest.importorskip("pytestqt")


@pytest.fixture
def window(qtbot):
    from sleepvit.gui.qt.main_window import MainWindow
    from sleepvit.gui.session.settings import Preferences

    window = MainWindow(Preferences(), reviewer="tester", save_preferences=False)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    yield window
    window.close()


def open_in(qtbot, window, path):
    window.open_path(path)
    qtbot.waitUntil(
        lambda: (
            window.session is not None and window.session.ai is not None and window.worker is None
        ),
        timeout=TIMEOUT_MS,
    )
    return window.session


def press(qtbot, window, *keys):
    for key in keys:
        qtbot.keyClick(window, key)


def pixel_at(view, page, epoch: int, seconds: float, slot: str, below_top: int = 3):
    row = next(r for r in page.rows if r.slot == slot)
    rect = view.trace_rect()
    scale = 1 / view.devicePixelRatioF()
    image = view.grab().toImage()
    x = rect.left() + round(page.x_of(epoch, seconds) * scale)
    return image.pixelColor(x, rect.top() + round((row.top + below_top) * scale))


def test_h_lays_the_relevance_map_under_the_traces(qtbot, window, study_copy):
    from PySide6.QtCore import Qt

    session = open_in(qtbot, window, study_copy)
    assert window.heatmap_action.isEnabled() and not session.heatmap_visible
    relevance = session.explanation.epoch(session.current)
    slot, column = relevance.top_cell
    view = window.signal_view
    page = view.current_page()
    seconds = (column + 0.25) * relevance.column_s  # off the grid lines of whole seconds
    before = pixel_at(view, page, session.current, seconds, slot)
    press(qtbot, window, Qt.Key.Key_H)
    assert session.heatmap_visible and window.heatmap_action.isChecked()
    after = pixel_at(view, page, session.current, seconds, slot)
    assert before != after and after.red() > after.blue() + 40  # orange under the top patch
    press(qtbot, window, Qt.Key.Key_H)
    assert not session.heatmap_visible
    assert pixel_at(view, page, session.current, seconds, slot) == before


def test_the_panel_computes_neighbours_and_the_detail_map_in_the_worker(qtbot, window, study_copy):
    from PySide6.QtCore import Qt

    session = open_in(qtbot, window, study_copy)
    press(qtbot, window, Qt.Key.Key_Right, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: session.explanation.neighbours(2) is not None, timeout=TIMEOUT_MS)
    wanted = "ig" if captum_installed() else "gradient"
    press(qtbot, window, Qt.Key.Key_D)
    assert session.relevance_method == wanted and session.heatmap_visible
    qtbot.waitUntil(lambda: session.shown_method(2) == wanted, timeout=TIMEOUT_MS)
    checked = [a.data() for a in window.method_actions.actions() if a.isChecked()]
    assert checked == [wanted]
    window.ai_panel.grab()  # paints the detail map's bars and the neighbour strip
    press(qtbot, window, Qt.Key.Key_D)
    assert session.relevance_method == ROLLOUT and session.shown_method(2) == ROLLOUT


def test_n_walks_the_queue_and_the_navigator_marks_it(qtbot, window, study_copy, crafted_ai):
    from PySide6.QtCore import Qt

    from sleepvit.gui.qt import style
    from sleepvit.gui.qt.navigator import MARK_HEIGHT

    session = open_in(qtbot, window, study_copy)
    session.set_ai(crafted_ai(50, {30: 0.5, 7: 0.3, 12: 0.55, 41: 0.4}))
    queue = session.queue
    assert queue.epochs.tolist() == [7, 41, 30, 12]
    press(qtbot, window, Qt.Key.Key_N)
    assert session.current == int(queue.epochs[0])
    press(qtbot, window, Qt.Key.Key_A)  # accept: reviewed, and on to the next epoch
    press(qtbot, window, Qt.Key.Key_N)
    assert session.current == 41
    navigator = window.navigator
    image = navigator.grab().toImage()
    ratio = navigator.devicePixelRatioF()
    middle = navigator.rows["Queue"] + MARK_HEIGHT // 2

    def mark(epoch: int):
        return image.pixelColor(round(navigator.x_of(epoch + 0.5) * ratio), round(middle * ratio))

    away = [int(e) for e in queue.epochs if abs(int(e) - session.current) > 2]
    for epoch in away:
        colour = style.RULE if session.review.reviewed[epoch] else style.LOW_CONFIDENCE
        assert mark(epoch) == colour
    clear = next(
        e for e in range(session.n_epochs) if e not in queue.epochs and abs(e - session.current) > 2
    )
    assert mark(clear) == style.BACKGROUND


def test_a_gap_is_drawn_as_a_gap_and_a_lost_signal_is_named(qtbot, window, gappy_study):
    from sleepvit.gui.qt import style

    session = open_in(qtbot, window, gappy_study)
    window.set_page(300)
    session.go_to(GAP_AFTER_S // 30)
    view = window.signal_view
    page = view.current_page()
    inside = pixel_at(
        view, page, page.first_epoch, 150, "EEG_C", below_top=page.rows[0].height // 2
    )
    assert inside.name() in (style.PANEL.name(), style.RULE.name())  # no trace, hatched
    session.go_to(5)
    page = view.current_page()
    lost = pixel_at(view, page, 5, 25, "EOG_L", below_top=2)
    kept = pixel_at(view, page, 5, 25, "EEG_C", below_top=2)
    assert lost != kept  # greyed: not read by the AI
    window.ai_panel.grab()


def test_a_second_window_on_an_open_review_says_so(qtbot, window, study_copy):
    from PySide6.QtWidgets import QMessageBox

    from sleepvit.gui.qt.main_window import MainWindow
    from sleepvit.gui.session.settings import Preferences

    open_in(qtbot, window, study_copy)
    second = MainWindow(Preferences(), reviewer="other", save_preferences=False)
    qtbot.addWidget(second)
    second.show()
    second.open_path(study_copy)
    qtbot.waitUntil(lambda: second.worker is None, timeout=TIMEOUT_MS)
    boxes = [b for b in second.findChildren(QMessageBox) if b.objectName() == "error-dialog"]
    assert boxes and "is open in another SleepViT" in boxes[-1].text()
    assert second.session is None and window.session is not None
    second.close()
