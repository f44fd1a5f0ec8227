"""The review model without a screen: opening, the sidecar, edits, navigation, the queue."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sleepvit.gui.session.opening import OpenRequest, open_study
from sleepvit.gui.session.review import NOT_REVIEWED
from sleepvit.gui.session.scoring import score_study_for_review
from sleepvit.gui.session.screen import PageRenderer, RowRenderers
from sleepvit.gui.session.session import StudySession
from sleepvit.gui.session.settings import DisplaySettings
from sleepvit.gui.session.sidecar import (
    NEXT_TO_RECORDING,
    USER_DATA_FOLDER,
    SidecarError,
    sidecar_next_to,
    user_sidecar_folder,
)
from sleepvit.hypnogram import STAGE_CODE
from sleepvit.models.backends import load_backend

pytestmark = pytest.mark.usefixtures("user_folders")

N2, REM, W = STAGE_CODE["N2"], STAGE_CODE["REM"], STAGE_CODE["W"]


@pytest.fixture(scope="module")
def scorer():
    return load_backend()


def open_session(path: Path, scorer=None, **request) -> StudySession:
    opened = open_study(OpenRequest(path, **request))
    session = StudySession(opened, reviewer="anna")
    if session.ai is None and scorer is not None:
        session.set_ai(*score_study_for_review(opened.study, scorer))
    return session


def test_opening_creates_the_sidecar_next_to_the_recording_and_finds_the_scoring_on_file(
    study_copy, fixture_stages
):
    session = open_session(study_copy)
    assert session.sidecar.path == sidecar_next_to(study_copy)
    assert session.sidecar.where == NEXT_TO_RECORDING
    assert session.ai is None  # nothing scored yet: the worker scores it next
    assert session.reference is not None and session.reference.path.name.endswith("Hypnogram.edf")
    assert [int(s) for s in session.reference.stages] == [STAGE_CODE[s] for s in fixture_stages]
    session.close()


def test_the_ai_scoring_is_kept_so_a_reopened_study_is_not_scored_again(study_copy, scorer):
    session = open_session(study_copy, scorer)
    scored = session.ai
    assert len(scored.stages) == session.n_epochs == 50
    assert scored.epoch_vit is not None and scored.epoch_vit.shape == (50, 5)
    ai_kappa, reviewed_kappa = session.reference_kappa()
    assert ai_kappa is not None and reviewed_kappa == ai_kappa  # nothing reviewed yet
    session.close()

    reopened = open_session(study_copy)  # no scorer: it must come from the sidecar
    assert reopened.ai is not None
    np.testing.assert_array_equal(reopened.ai.stages, scored.stages)
    np.testing.assert_allclose(reopened.ai.probabilities, scored.probabilities)
    np.testing.assert_allclose(reopened.ai.epoch_vit, scored.epoch_vit)
    reopened.close()


def test_a_night_scored_by_sleepvit_score_opens_without_rescoring(study_copy, tmp_path):
    from sleepvit.cli import main
    from sleepvit.io import read_hypnogram

    out = tmp_path / "scored"
    assert main(["score", str(study_copy), "--out", str(out)]) == 0
    session = open_session(study_copy, scored_folders=[out])
    csv = out / f"{study_copy.stem}.hypnogram.csv"
    assert session.ai is not None and session.ai.info["source"] == str(csv)
    assert session.ai.info["model"]["name"] == "sleepvit-demo"
    written = read_hypnogram(csv)
    np.testing.assert_array_equal(session.ai.stages, written.stages)
    np.testing.assert_allclose(session.ai.probabilities, written.probabilities, atol=1e-4)
    session.close()


def test_edits_undo_redo_and_the_audit_log_survive_reopening(study_copy):
    session = open_session(study_copy)
    session.go_to(4)
    session.score_current(N2)  # epoch 4 → N2, moves to 5
    session.score_current(REM)  # epoch 5 → REM
    assert session.current == 6
    assert session.undo() and session.current == 5 and session.review.stage(5) is None
    assert session.redo() and session.review.stage(5) == REM
    assert session.undo()
    session.close()

    reopened = open_session(study_copy)
    assert reopened.review.stage(4) == N2 and reopened.review.stage(5) is None
    assert reopened.current == 6  # back after the last epoch edited
    log = [(e.epoch, e.old, e.new, e.who, e.action) for e in reopened.review.audit]
    assert log == [
        (4, None, N2, "anna", "score"),
        (5, None, REM, "anna", "score"),
        (5, REM, None, "anna", "undo"),
        (5, None, REM, "anna", "redo"),
        (5, REM, None, "anna", "undo"),
    ]
    assert reopened.redo() and reopened.review.stage(5) == REM  # the redo history came back
    reopened.close()


def test_a_failed_write_changes_nothing_on_screen(study_copy):
    session = open_session(study_copy)
    session.sidecar._db.close()  # the disk went away
    seen = []
    session.stages_changed.connect(seen.append)
    with pytest.raises(SidecarError, match="nothing was changed"):
        session.score_current(N2)
    assert session.review.stage(0) is None and session.current == 0 and not seen


def test_accepting_the_ai_and_the_reviewed_night(study_copy, scorer):
    session = open_session(study_copy, scorer)
    ai = session.ai.stages
    other = next(code for code in (W, N2) if code != ai[1])
    assert session.accept_ai() and session.review.stage(0) == ai[0]
    session.score_current(other)
    assert session.review.audit[0].action == "accept AI"
    assert session.changed_epochs().tolist() == [1]
    reviewed = session.reviewed_stages()
    assert reviewed[1] == other and (reviewed[2:] == ai[2:]).all()
    hypnogram = session.reviewed_hypnogram()
    np.testing.assert_allclose(hypnogram.probabilities, session.ai.probabilities)
    session.close()


def test_sign_off_holds_until_the_next_edit(study_copy):
    session = open_session(study_copy)
    session.score_current(N2)
    signed = session.review.sign_off("  Anna   Lind ")
    assert signed.reviewer == "Anna Lind" and session.review.sign_off_record == signed
    session.score_current(REM)
    assert session.review.sign_off_record is None
    session.close()
    reopened = open_session(study_copy)
    assert reopened.review.sign_offs[0].reviewer == "Anna Lind"
    assert reopened.review.sign_off_record is None
    reopened.close()


def test_navigation_by_epoch_and_page(study_copy):
    session = open_session(study_copy)
    session.set_settings(DisplaySettings(page_s=120))
    session.go_to(9)
    assert session.page_start == 8
    session.step_page(1)
    assert session.current == 12
    session.step_page(-3)
    assert session.current == 0
    session.last()
    assert session.current == 49 and session.page_start == 48
    session.go_to(500)
    assert session.current == 49
    session.close()


def test_next_uncertain_visits_the_least_confident_unreviewed_epochs(study_copy, crafted_ai):
    session = open_session(study_copy)
    session.set_ai(crafted_ai(50, {30: 0.5, 7: 0.3, 12: 0.55, 41: 0.4, 44: 0.7}))
    assert session.queue.epochs.tolist() == [7, 41, 30, 12]  # below 0.6, least confident first
    assert session.next_uncertain() and session.current == 7
    session.score_current(REM)
    assert session.next_uncertain() and session.current == 41
    assert session.previous_uncertain() and session.current == 7
    session.go_to(30)  # the technician got there on their own
    session.accept_ai()
    assert session.next_uncertain() and session.current == 12  # 30 is done, 41 comes round
    session.accept_ai()
    assert session.next_uncertain() and session.current == 41
    session.accept_ai()
    assert not session.next_uncertain()
    assert session.queue.remaining(session.review.reviewed) == 0
    session.close()


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: the folder refuses writes; as root, where permission bits do not
    bind, ``os.access`` is made to tell the truth a normal user would get."""

    def make(folder: Path) -> Path:
        folder.chmod(0o555)
        if os.access(folder, os.W_OK):
            real = os.access

            def access(path, mode, **kwargs):
                if mode & os.W_OK and Path(path).resolve() == folder.resolve():
                    return False
                return real(path, mode, **kwargs)

            monkeypatch.setattr("sleepvit.gui.session.sidecar.os.access", access)
        return folder

    yield make


def test_a_read_only_folder_keeps_the_review_in_the_user_data_folder(study_copy, read_only):
    before = study_copy.read_bytes()
    read_only(study_copy.parent)
    session = open_session(study_copy)
    assert session.sidecar.where == USER_DATA_FOLDER
    assert session.sidecar.path.parent == user_sidecar_folder()
    assert session.sidecar.path.name.startswith(session.identity.sha256[:32])
    assert any("not writable" in note for note in session.notes)
    session.score_current(N2)
    session.close()
    assert not sidecar_next_to(study_copy).exists()
    assert open_session(study_copy).review.stage(0) == N2  # found again by the recording's hash
    assert study_copy.read_bytes() == before  # the EDF is never written
    study_copy.parent.chmod(0o755)


def test_a_sidecar_of_another_recording_is_left_alone(
    study_copy, tmp_path, simulated_night_factory
):
    other, _ = simulated_night_factory("hospital", seed=11, stages=["W", "N2"] * 3)
    foreign = open_session(Path(shutil.copy(other, tmp_path / "other.edf")))
    foreign.score_current(N2)
    foreign.close()
    (tmp_path / "other.sleepvit.sqlite").rename(sidecar_next_to(study_copy))
    session = open_session(study_copy)
    assert session.sidecar.where == USER_DATA_FOLDER
    assert any("belongs to another recording" in note for note in session.notes)
    assert session.review.stage(0) is None
    session.close()
    with sqlite3.connect(sidecar_next_to(study_copy)) as db:  # untouched
        assert db.execute("SELECT count(*) FROM edits").fetchone() == (1,)


def test_a_corrupt_sidecar_is_a_clear_error_and_is_not_overwritten(study_copy):
    sidecar_next_to(study_copy).write_bytes(b"not a database at all" * 100)
    with pytest.raises(SidecarError, match="move it away to start a new review"):
        open_session(study_copy)
    assert sidecar_next_to(study_copy).read_bytes().startswith(b"not a database")


def test_a_wider_page_is_the_epochs_drawn_side_by_side(study_copy):
    session = open_session(study_copy)
    rows = RowRenderers(session.study, session.model_config)
    single = PageRenderer(rows, DisplaySettings(page_s=30), 640, 550)
    double = PageRenderer(rows, DisplaySettings(page_s=60), 1280, 550)
    wide = double.page(10)
    assert list(wide.epochs) == [10, 11] and wide.pixels.shape == (550, 1280)
    np.testing.assert_array_equal(
        wide.pixels, np.hstack([single.page(10).pixels, single.page(11).pixels])
    )
    assert [row.slot for row in wide.rows] == list(session.study.signals)
    assert wide.pixels.any()
    last = PageRenderer(rows, DisplaySettings(page_s=300), 1500, 550).page(40)
    assert list(last.epochs) == list(range(40, 50))
    session.close()


def test_a_gain_change_rescales_only_the_screen(study_copy):
    session = open_session(study_copy)
    rows = RowRenderers(session.study, session.model_config)
    normal = PageRenderer(rows, DisplaySettings(), 960, 550)
    sensitive = PageRenderer(rows, DisplaySettings().with_gain("EEG_C", 20.0), 960, 550)
    eeg = next(r for r in sensitive.rows if r.slot == "EEG_C")
    assert eeg.value_range == (-20.0, 20.0) and eeg.unit == "µV"
    assert next(r for r in normal.rows if r.slot == "EEG_C").gain == 75.0
    band = slice(eeg.top, eeg.top + eeg.height)
    # An N1 page: at ±20 µV, N3's slow waves run off the row and light fewer pixels, not more.
    drawn = [np.count_nonzero(p.page(15).pixels[band]) for p in (normal, sensitive)]
    assert drawn[1] > 1.5 * drawn[0]  # a larger trace lights more pixels
    assert session.model_config.rows[1].range == (-75.0, 75.0)  # the model's scale is untouched
    session.close()


def test_stages_are_not_reviewed_until_scored(study_copy):
    session = open_session(study_copy)
    assert (session.review.stages == NOT_REVIEWED).all()
    assert session.reviewed_stages().tolist() == [-1] * 50  # no AI yet: unscored
    session.close()


def test_the_review_model_imports_no_qt():
    """The study model is tested without a screen because it never needs one."""
    import subprocess
    import sys

    modules = [
        f"sleepvit.gui.session.{path.stem}"
        for path in sorted(Path(__file__).parents[1].joinpath("gui", "session").glob("*.py"))
        if path.stem != "__init__"
    ]
    script = (
        f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
        "qt = {m.split('.')[0] for m in sys.modules if m.startswith(('PySide', 'shiboken'))}\n"
        "print(sorted(qt))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert len(modules) >= 9
