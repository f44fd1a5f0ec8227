"""Export of a reviewed night: both scorings kept, the changes in the report, nothing lost."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pypdf import PdfReader

from sleepvit.errors import OutputError
from sleepvit.gui.session.export import export_review
from sleepvit.gui.session.opening import OpenRequest, open_study
from sleepvit.gui.session.scoring import score_study_for_review
from sleepvit.gui.session.session import StudySession
from sleepvit.hypnogram import STAGE_CODE, stage_name
from sleepvit.io import read_hypnogram
from sleepvit.io.edf_annotations import read_edf_annotations
from sleepvit.models.backends import load_backend

pytestmark = pytest.mark.usefixtures("user_folders")


@pytest.fixture
def reviewed(study_copy):
    """A session where the technician changed epochs 3 and 21, confirmed 0-1, signed off."""
    opened = open_study(OpenRequest(study_copy))
    session = StudySession(opened, reviewer="anna")
    session.set_ai(*score_study_for_review(opened.study, load_backend()))
    ai = session.ai.stages
    session.accept_ai()
    session.accept_ai()
    for epoch in (3, 21):
        session.go_to(epoch)
        session.score_current(next(c for c in STAGE_CODE.values() if c >= 0 and c != ai[epoch]))
    session.review.sign_off("Anna Lind")
    yield session
    session.close()


def test_export_writes_the_reviewed_night_with_the_ai_stages_kept(reviewed, tmp_path, study_copy):
    before = study_copy.read_bytes()
    files = export_review(reviewed, tmp_path / "export")
    stem = f"{study_copy.stem}.reviewed"
    assert {path.name for path in files.values()} == {
        f"{stem}.hypnogram.csv", f"{stem}.annotations.edf", f"{stem}.nsrr.xml",
        f"{stem}.report.pdf", f"{stem}.hypnogram.png", f"{stem}.summary.json",
    }  # fmt: skip
    expected = reviewed.reviewed_stages()
    ai = reviewed.ai.stages
    for kind in ("csv", "edf", "xml"):
        back = read_hypnogram(files[kind], reviewed.study.start, reviewed.study.duration_s)
        np.testing.assert_array_equal(back.stages, expected)
    rows = [line.split(",") for line in files["csv"].read_text().splitlines()]
    assert rows[0][:4] == ["epoch", "onset_s", "stage", "ai_stage"]
    assert [row[3] for row in rows[1:]] == [stage_name(int(c)) for c in ai]
    ai_annotations = [
        a
        for a in read_edf_annotations(files["edf"]).annotations
        if a.description.startswith("SleepViT AI")
    ]
    assert sum(round(a.duration_s / 30) for a in ai_annotations) == 50
    summary = json.loads(files["summary"].read_text())
    assert summary["review"]["changed_epochs"] == [4, 22]
    assert summary["review"]["signed_off_by"] == "Anna Lind"
    assert [row["action"] for row in summary["review"]["audit"]] == [
        "accept AI", "accept AI", "score", "score", "sign off",
    ]  # fmt: skip
    assert study_copy.read_bytes() == before


def test_the_report_names_the_reviewer_and_the_changed_epochs(reviewed, tmp_path):
    files = export_review(reviewed, tmp_path)
    pages = [page.extract_text() for page in PdfReader(files["pdf"]).pages]
    assert len(pages) == 3
    assert "reviewed and signed off by Anna Lind" in pages[0]
    assert "Reviewed 4 epochs" in pages[0] and "Changed 2 epochs (page 3)" in pages[0]
    assert "Epochs changed by the technician" in pages[2]
    ai = reviewed.ai.stages
    for epoch in (3, 21):
        line = next(t for t in pages[2].splitlines() if t.startswith(f"{epoch + 1} "))
        assert stage_name(int(ai[epoch])) in line
        assert stage_name(int(reviewed.reviewed_stages()[epoch])) in line


def test_an_edit_after_the_sign_off_is_reported_unsigned(reviewed, tmp_path):
    reviewed.go_to(30)
    reviewed.score_current(STAGE_CODE["N1"] if reviewed.ai.stages[30] != STAGE_CODE["N1"] else 0)
    files = export_review(reviewed, tmp_path)
    first = PdfReader(files["pdf"]).pages[0].extract_text()
    assert "not signed off" in first and "Anna Lind" not in first
    assert json.loads(files["summary"].read_text())["review"]["signed_off_by"] is None


def test_a_folder_that_cannot_be_written_is_a_clear_error(reviewed, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="choose another output folder"):
        export_review(reviewed, blocker / "export")
