"""The AI panel's out-of-distribution box (issue 16, item 3), offscreen with pytest-qt: amber
across the top of the panel when the night's verdict fired, absent when it did not."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from sleepvit.gui.qt import style  # noqa: E402
from sleepvit.gui.qt.ai_panel import PAD, AiPanel  # noqa: E402
from sleepvit.gui.session.opening import OpenRequest, open_study  # noqa: E402
from sleepvit.gui.session.session import StudySession  # noqa: E402
from sleepvit.models.ood import OodVerdict  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_folders")


def top_right_of_panel(panel: AiPanel):
    """The colour just inside the box's top right corner (without a box: beside the short
    "Epoch 1 of 50" line)."""
    image = panel.grab().toImage()
    ratio = panel.devicePixelRatioF()
    return image.pixelColor(round((panel.width() - PAD - 4) * ratio), round((PAD + 4) * ratio))


def test_the_panel_shows_the_box_only_when_the_verdict_fired(qtbot, study_copy, crafted_ai):
    session = StudySession(open_study(OpenRequest(study_copy)), reviewer="anna")
    panel = AiPanel()
    qtbot.addWidget(panel)
    panel.resize(panel.sizeHint())
    panel.set_session(session)
    ai = crafted_ai(session.n_epochs, {})
    quiet = OodVerdict(score=9.0, threshold=15.5, epoch_threshold=18.5, unusual_share=0.02)
    fired = replace(quiet, score=21.3, unusual_share=0.64)

    session.set_ai(replace(ai, info=ai.info | {"ood": quiet.to_dict()}))
    assert session.ood_warning is None
    assert top_right_of_panel(panel) == style.PANEL

    session.set_ai(replace(ai, info=ai.info | {"ood": fired.to_dict()}))
    assert session.ood_warning == fired
    assert top_right_of_panel(panel) == style.OOD_FILL  # repainted on ai_changed

    session.set_ai(ai)  # uncalibrated weights: no verdict, no box
    assert top_right_of_panel(panel) == style.PANEL
    session.close()
