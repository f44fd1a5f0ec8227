"""A recording unlike the training data, in the desktop app without a screen (issue 16, item 3):
the AI scoring carries the night's out-of-distribution verdict whether it was scored here or
read from ``sleepvit score`` outputs, keeps it in the review sidecar, the session says when it
fired in the words of the terminal and the report, and the export carries it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from pypdf import PdfReader

from sleepvit.cli import main
from sleepvit.gui.session.export import export_review
from sleepvit.gui.session.opening import OpenRequest, open_study
from sleepvit.gui.session.scoring import score_study_for_review
from sleepvit.gui.session.session import StudySession
from sleepvit.gui.session.sidecar import sidecar_next_to
from sleepvit.models.backends import load_backend
from sleepvit.models.ood import OodVerdict

pytestmark = pytest.mark.usefixtures("user_folders")
HEADLINE = "recording unlike the training data"


@pytest.fixture(scope="module")
def scorer():
    scorer = load_backend()
    assert scorer.uncertainty is not None and scorer.embedding_reference is not None
    return scorer


def open_session(path, **request) -> StudySession:
    return StudySession(open_study(OpenRequest(path, **request)), reviewer="anna")


@pytest.mark.parametrize("fires", [True, False])
def test_a_night_scored_here_carries_its_verdict_through_the_sidecar_and_the_export(
    study_copy, tmp_path, scorer, monkeypatch, fires
):
    # The shipped weights judge the simulated night like their training data; a threshold
    # below any distance makes the same night fire, one above any keeps it quiet.
    threshold = -1.0 if fires else 1e9
    monkeypatch.setattr(
        scorer, "uncertainty", replace(scorer.uncertainty, ood_night_threshold=threshold)
    )
    session = open_session(study_copy)
    session.set_ai(*score_study_for_review(session.study, scorer))
    verdict = session.ai.ood
    assert verdict is not None and verdict.threshold == threshold and verdict.score > 0
    assert verdict.fired is fires
    assert (session.ood_warning == verdict) is fires
    if fires:
        assert session.ood_warning.message().startswith(f"{HEADLINE} (OOD score ")
    else:
        assert session.ood_warning is None
    session.close()

    reopened = open_session(study_copy)  # no scorer: the scoring comes from the sidecar
    assert reopened.ai.ood == verdict
    assert (reopened.ood_warning is not None) is fires

    files = export_review(reopened, tmp_path / "export")
    summary = json.loads(files["summary"].read_text())
    assert summary["ood"] == verdict.to_dict()
    assert [w for w in summary["warnings"] if HEADLINE in w] == (
        [verdict.message()] if fires else []
    )
    page_one = PdfReader(files["pdf"]).pages[0].extract_text()
    assert (f"Warning: {HEADLINE}" in page_one) is fires
    reopened.close()


@pytest.fixture(scope="module")
def scored_outputs(tmp_path_factory, hospital_night):
    """``sleepvit score``'s outputs of the hospital night (shipped, calibrated weights)."""
    out = tmp_path_factory.mktemp("scored")
    assert main(["score", str(hospital_night[0]), "--out", str(out)]) == 0
    return out


def _outputs_with_ood(scored_outputs, tmp_path, stem: str, ood) -> object:
    """A copy of the outputs whose summary carries ``ood`` as its verdict."""
    import shutil

    folder = tmp_path / "outputs"
    shutil.copytree(scored_outputs, folder)
    path = folder / f"{stem}.summary.json"
    summary = json.loads(path.read_text())
    summary["ood"] = ood(summary["ood"]) if callable(ood) else ood
    path.write_text(json.dumps(summary))
    return folder


@pytest.mark.parametrize("fires", [True, False])
def test_a_night_scored_by_sleepvit_score_brings_the_verdict_of_its_summary(
    study_copy, tmp_path, scored_outputs, fires
):
    def judged(ood: dict) -> dict:
        threshold = ood["score"] - 1.0 if fires else ood["score"] + 1.0
        return OodVerdict.from_dict(ood | {"threshold": threshold}).to_dict()

    folder = _outputs_with_ood(scored_outputs, tmp_path, study_copy.stem, judged)
    session = open_session(study_copy, scored_folders=[folder])
    assert session.ai.info["source"].startswith(str(folder))
    assert session.ai.ood is not None and session.ai.ood.fired is fires
    assert (session.ood_warning is not None) is fires
    session.close()
    reopened = open_session(study_copy)  # kept in the sidecar: the outputs are not read again
    assert reopened.ai.info["source"].startswith(str(folder))
    assert (reopened.ood_warning is not None) is fires
    reopened.close()


def test_outputs_of_uncalibrated_weights_and_an_unreadable_verdict_warn_of_nothing(
    study_copy, tmp_path, scored_outputs
):
    folder = _outputs_with_ood(scored_outputs, tmp_path, study_copy.stem, None)
    session = open_session(study_copy, scored_folders=[folder])
    assert session.ai is not None and session.ai.ood is None and session.ood_warning is None
    session.close()

    sidecar_next_to(study_copy).unlink()  # forget the scoring, so the outputs are read again
    folder = _outputs_with_ood(
        scored_outputs, tmp_path / "broken", study_copy.stem, {"fired": True}
    )
    session = open_session(study_copy, scored_folders=[folder])
    assert session.ai is not None and session.ood_warning is None  # the stages are still used
    [note] = [n for n in session.notes if "out-of-distribution" in n]
    assert "score the night again" in note and "\n" not in note
    session.close()
