"""The desktop app offscreen (pytest-qt): open, score, navigate, score with keys, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox  # noqa: E402

from sleepvit.gui.qt.main_window import MainWindow  # noqa: E402
from sleepvit.gui.session.settings import Preferences  # noqa: E402
from sleepvit.hypnogram import STAGE_CODE  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_folders")

W, N1, N2, N3, REM = (STAGE_CODE[s] for s in ("W", "N1", "N2", "N3", "REM"))
TIMEOUT_MS = 60_000


def open_and_score(qtbot, window, path, **kwargs):
    window.open_path(path, **kwargs)
    qtbot.waitUntil(
        lambda: (
            window.session is not None and window.session.ai is not None and window.worker is None
        ),
        timeout=TIMEOUT_MS,
    )
    return window.session


def error_dialogs(window) -> list[QMessageBox]:
    return [box for box in window.findChildren(QMessageBox) if box.objectName() == "error-dialog"]


def press(qtbot, window, *keys, modifier=Qt.KeyboardModifier.NoModifier):
    for key in keys:
        qtbot.keyClick(window, key, modifier)


def test_the_qt_binding_keeps_none_alive(qtbot):
    """PySide6 6.12.0 on Python 3.11 drops a reference to None in every void call; the app
    then aborts after a few thousand paint calls (pyproject.toml excludes that release)."""
    import sys

    from PySide6.QtWidgets import QWidget

    widget = QWidget()
    qtbot.addWidget(widget)
    widget.update()
    before = sys.getrefcount(None)
    for _ in range(1000):
        widget.update()
    assert sys.getrefcount(None) - before > -100


def test_open_shows_the_first_page_then_the_ai_scoring(qtbot, window, study_copy):
    window.open_path(study_copy)
    qtbot.waitUntil(lambda: window.session is not None, timeout=TIMEOUT_MS)
    page = window.signal_view.current_page()
    assert page.first_epoch == 0 and page.pixels.any()
    assert [row.label for row in page.rows][:2] == ["F4-M1", "C4-M1"]
    qtbot.waitUntil(lambda: window.session.ai is not None, timeout=TIMEOUT_MS)
    session = window.session
    assert len(session.ai.stages) == 50 and session.queue is not None
    assert session.reference is not None  # the night's -Hypnogram.edf, shown with κ
    assert session.reference_kappa()[0] is not None
    assert not window.grab().isNull()


def test_arrows_pages_home_end_and_jump(qtbot, window, study_copy, monkeypatch):
    session = open_and_score(qtbot, window, study_copy)
    press(qtbot, window, Qt.Key.Key_Right, Qt.Key.Key_Right)
    assert session.current == 2
    press(qtbot, window, Qt.Key.Key_Left)
    assert session.current == 1
    press(qtbot, window, Qt.Key.Key_End)
    assert session.current == 49
    press(qtbot, window, Qt.Key.Key_Home)
    assert session.current == 0
    press(qtbot, window, Qt.Key.Key_2, modifier=Qt.KeyboardModifier.ControlModifier)  # 60 s
    assert session.settings.page_s == 60
    press(qtbot, window, Qt.Key.Key_PageDown, Qt.Key.Key_PageDown)
    assert session.current == 4
    assert list(window.signal_view.current_page().epochs) == [4, 5]
    press(qtbot, window, Qt.Key.Key_PageUp)
    assert session.current == 2
    monkeypatch.setattr(QInputDialog, "getInt", lambda *args, **kwargs: (42, True))
    press(qtbot, window, Qt.Key.Key_G)
    assert session.current == 41  # epoch 42 as people count, index 41


def test_clicks_on_the_navigator_and_on_an_epoch_of_a_wide_page(qtbot, window, study_copy):
    session = open_and_score(qtbot, window, study_copy)
    navigator = window.navigator
    x = round(navigator.x_of(30.5))
    qtbot.mouseClick(navigator, Qt.MouseButton.LeftButton, pos=QPoint(x, 20))
    assert session.current == 30
    press(qtbot, window, Qt.Key.Key_3, modifier=Qt.KeyboardModifier.ControlModifier)  # 120 s
    view = window.signal_view
    page = view.current_page()
    assert page.first_epoch == 28
    x = view.trace_rect().left() + page.x_of(29, 15.0) / view.devicePixelRatioF()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(round(x), 200))
    assert session.current == 29


def test_scoring_with_the_keyboard_undo_and_redo(qtbot, window, study_copy):
    session = open_and_score(qtbot, window, study_copy)
    press(qtbot, window, Qt.Key.Key_W, Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_R)
    press(qtbot, window, Qt.Key.Key_0, Qt.Key.Key_5)
    press(qtbot, window, Qt.Key.Key_2, modifier=Qt.KeyboardModifier.KeypadModifier)
    assert [session.review.stage(e) for e in range(8)] == [W, N1, N2, N3, REM, W, REM, N2]
    assert session.current == 8
    press(qtbot, window, Qt.Key.Key_Return)  # accept the AI's stage
    assert session.review.stage(8) == session.ai.stages[8]
    assert session.review.audit[-1].action == "accept AI"
    press(qtbot, window, Qt.Key.Key_Z, modifier=Qt.KeyboardModifier.ControlModifier)
    assert session.review.stage(8) is None and session.current == 8
    press(qtbot, window, Qt.Key.Key_Y, modifier=Qt.KeyboardModifier.ControlModifier)
    assert session.review.stage(8) == session.ai.stages[8]
    assert window.message.text().startswith("Saved: epoch 9")
    assert [entry.who for entry in session.review.audit] == ["tester"] * 11


def test_next_uncertain_follows_the_review_queue(qtbot, window, study_copy, crafted_ai):
    session = open_and_score(qtbot, window, study_copy)
    session.set_ai(crafted_ai(50, {20: 0.4, 9: 0.3}))
    press(qtbot, window, Qt.Key.Key_N)
    assert session.current == 9
    press(qtbot, window, Qt.Key.Key_A)  # accept, moves on to 10
    press(qtbot, window, Qt.Key.Key_N)
    assert session.current == 20
    press(qtbot, window, Qt.Key.Key_P)
    assert session.current == 9
    press(qtbot, window, Qt.Key.Key_N, Qt.Key.Key_2, Qt.Key.Key_N)
    assert window.message.text() == "All 2 uncertain epochs are reviewed"


def test_edits_come_back_when_the_study_is_reopened(qtbot, window, study_copy):
    session = open_and_score(qtbot, window, study_copy)
    press(qtbot, window, Qt.Key.Key_2, Qt.Key.Key_2, Qt.Key.Key_R)
    expected = session.review.stages.copy()
    window.close()
    again = MainWindow(Preferences(), reviewer="tester", save_preferences=False)
    qtbot.addWidget(again)
    restored = open_and_score(qtbot, again, study_copy)
    np.testing.assert_array_equal(restored.review.stages, expected)
    assert restored.current == 3
    again.close()


def test_a_bad_file_is_a_dialog_and_the_app_goes_on(qtbot, window, tmp_path, study_copy):
    bad = tmp_path / "broken.edf"
    bad.write_bytes(b"this is not an EDF file" * 50)
    window.open_path(bad)
    qtbot.waitUntil(
        lambda: window.worker is None and bool(error_dialogs(window)), timeout=TIMEOUT_MS
    )
    assert "broken.edf" in error_dialogs(window)[0].text()
    assert window.session is None
    assert not (tmp_path / "broken.sleepvit.sqlite").exists()
    assert open_and_score(qtbot, window, study_copy).n_epochs == 50


def test_a_missing_eeg_channel_is_a_dialog_that_leads_to_the_channel_map(qtbot, window, study_copy):
    from sleepvit.gui.qt.dialogs import ChannelMapDialog

    no_eeg = {"EEG_F": None, "EEG_C": None, "EEG_O": None}
    window.open_path(study_copy, channel_map=no_eeg)
    qtbot.waitUntil(
        lambda: window.worker is None and bool(error_dialogs(window)), timeout=TIMEOUT_MS
    )
    box = error_dialogs(window)[0]
    assert "EEG" in box.text()
    assert window.session is None
    choose = next(b for b in box.buttons() if b.text() == "Set the channel map…")
    choose.click()
    dialog = window.findChild(ChannelMapDialog)
    assert dialog.channel_map() == no_eeg  # the map that failed, to be corrected
    dialog.rows["EEG_C"][0].setCurrentText("C4-M1")
    dialog.accept()
    qtbot.waitUntil(lambda: window.session is not None, timeout=TIMEOUT_MS)
    assert window.session.study.signals["EEG_C"].label == "C4-M1"
    assert window.session.sidecar.setting("channel_map")["EEG_C"] == "C4-M1"


def test_a_model_error_leaves_the_study_open_for_manual_scoring(qtbot, study_copy, tmp_path):
    window = MainWindow(
        Preferences(), weights=tmp_path / "no-weights", reviewer="tester", save_preferences=False
    )
    qtbot.addWidget(window)
    window.show()
    window.open_path(study_copy)
    qtbot.waitUntil(
        lambda: window.session is not None and window.worker is None, timeout=TIMEOUT_MS
    )
    assert window.session.ai is None
    dialogs = error_dialogs(window)
    assert any("no-weights" in box.text() for box in dialogs)
    for box in dialogs:
        box.accept()  # the dialogs are modal to the window: keys wait until they are read
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    press(qtbot, window, Qt.Key.Key_2)
    assert window.session.review.stage(0) == N2
    assert window.rescore_action.isEnabled()
    window.close()


def test_scoring_can_be_cancelled_and_run_again(qtbot, window, study_copy):
    window.open_path(study_copy)
    worker = window.worker

    def cancel_at_render(step, done, total):
        if step == "render":
            worker.cancel()  # in the worker's thread, before its next block

    worker.progress.connect(cancel_at_render, Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: window.worker is None, timeout=TIMEOUT_MS)
    assert window.session is not None and window.session.ai is None
    assert "cancelled" in window.message.text()
    window.rescore_action.trigger()
    qtbot.waitUntil(lambda: window.session.ai is not None, timeout=TIMEOUT_MS)


def test_drop_a_recording_on_the_window(qtbot, window, study_copy):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(study_copy))])
    drop = QDropEvent(
        QPointF(100, 100), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.session is not None, timeout=TIMEOUT_MS)
    assert window.session.study.path == study_copy
    assert window.preferences.recent_files[0] == str(study_copy)
    assert window.recent_menu.actions()[0].text() == str(study_copy)


def test_a_new_channel_map_rescores_and_keeps_the_technicians_stages(qtbot, window, study_copy):
    session = open_and_score(qtbot, window, study_copy)
    press(qtbot, window, Qt.Key.Key_3)
    window.open_path(study_copy, channel_map={"EOG_R": None})
    qtbot.waitUntil(
        lambda: window.session is not None and window.session is not session
        and window.session.ai is not None and window.worker is None,
        timeout=TIMEOUT_MS,
    )  # fmt: skip
    remapped = window.session
    assert "EOG_R" not in remapped.study.signals
    assert "EOG_R" not in remapped.ai.info["channels"]
    assert remapped.review.stage(0) == N3
    assert "EOG_R" not in [row.slot for row in window.signal_view.current_page().rows]


def test_sign_off_and_export_from_the_keyboard(qtbot, window, study_copy, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    session = open_and_score(qtbot, window, study_copy)
    press(qtbot, window, Qt.Key.Key_Return, Qt.Key.Key_R)
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("Anna Lind", True))
    press(
        qtbot,
        window,
        Qt.Key.Key_S,
        modifier=Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert session.review.sign_off_record.reviewer == "Anna Lind"
    out = tmp_path / "export"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(out))
    press(qtbot, window, Qt.Key.Key_E, modifier=Qt.KeyboardModifier.ControlModifier)
    assert window.message.text() == f"Exported 6 files to {out}"
    assert (out / f"{study_copy.stem}.reviewed.report.pdf").is_file()


def test_an_export_that_fails_is_a_dialog(qtbot, window, study_copy, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    open_and_score(qtbot, window, study_copy)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(
        QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes
    )
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(blocker / "export")
    )
    press(qtbot, window, Qt.Key.Key_E, modifier=Qt.KeyboardModifier.ControlModifier)
    assert "choose another output folder" in error_dialogs(window)[0].text()
    assert window.session is not None and window.session.review.audit == []


def test_the_file_menu_and_recent_files_open_a_study(qtbot, window, study_copy, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(study_copy), "")
    )
    press(qtbot, window, Qt.Key.Key_O, modifier=Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(
        lambda: window.session is not None and window.worker is None, timeout=TIMEOUT_MS
    )
    window._close_session()
    assert window.session is None
    window.recent_menu.actions()[0].trigger()
    qtbot.waitUntil(lambda: window.session is not None, timeout=TIMEOUT_MS)
    assert window.session.study.path == study_copy


def test_the_display_dialog_sets_filters_notch_and_gains(qtbot, window, study_copy):
    from sleepvit.gui.qt.dialogs import DisplaySettingsDialog

    session = open_and_score(qtbot, window, study_copy)
    rows = window.signal_view.page_renderer().rows
    dialog = DisplaySettingsDialog(session.settings, rows, session.model_config, window)
    qtbot.addWidget(dialog)
    high, low, notch = dialog.filters["EEG"]
    high.setCurrentIndex(high.findData(0.5))
    low.setCurrentIndex(low.findData(None))
    notch.setCurrentIndex(notch.findData(50.0))
    dialog.gains["EOG_L"].setValue(100.0)
    dialog.page.setCurrentIndex(dialog.page.findData(120))
    settings = dialog.settings()
    assert settings.page_s == 120
    assert settings.band_of("EEG_C", session.model_config) == (0.5, float("inf"))
    assert settings.notch_of("EEG_C", session.model_config) == 50.0
    assert settings.gains == {"EOG_L": 100.0}
    window._set_display(settings)
    page = window.signal_view.current_page()
    eeg = next(r for r in page.rows if r.slot == "EEG_C")
    assert eeg.band == (0.5, float("inf")) and eeg.notch_hz == 50.0
    assert next(r for r in page.rows if r.slot == "EOG_L").value_range == (-100.0, 100.0)
    assert len(page.epochs) == 4
    assert window.preferences.display == settings


def test_the_channel_map_dialog_writes_the_channel_map_contract(qtbot, window, study_copy):
    from sleepvit.gui.qt.dialogs import NONE, ChannelMapDialog
    from sleepvit.io import load_study

    session = open_and_score(qtbot, window, study_copy)
    dialog = ChannelMapDialog.for_study(session.study, {"EEG_O": None}, window)
    qtbot.addWidget(dialog)
    assert dialog.rows["EEG_O"][0].currentText() == NONE
    labels = [c.label for c in session.study.channels]
    assert "C3-M2" in labels and "F3-M2" in labels
    dialog.rows["EEG_C"][0].setCurrentText("C3-M2")
    active, reference = dialog.rows["EEG_F"]
    active.setCurrentText("F3-M2")
    reference.setCurrentText("C3-M2")
    channel_map = dialog.channel_map()
    assert channel_map == {"EEG_F": ["F3-M2", "C3-M2"], "EEG_C": "C3-M2", "EEG_O": None}
    remapped = load_study(study_copy, channel_map=channel_map)  # what --channel-map accepts
    assert remapped.signals["EEG_C"].label == "C3-M2"
    assert remapped.signals["EEG_F"].label == "F3-M2 - C3-M2 (derived)"
    assert "EEG_O" not in remapped.signals


@pytest.mark.slow
def test_the_self_test_runs_where_torch_cannot_be_imported(tmp_path, torch_free_prelude):
    """``sleepvit-gui --self-test`` (the bundle's check) in the scoring runtime's world."""
    import os
    import subprocess
    import sys

    environment = os.environ | {
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    script = torch_free_prelude + (
        "from sleepvit.gui.app import main\n"
        "code = main(['--self-test'])\n"
        "assert not any(m.split('.')[0] in {'torch', 'timm', 'captum'} for m in sys.modules)\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "self-test passed" in done.stdout


def test_gain_keys_and_what_the_next_study_inherits(qtbot, window, study_copy):
    session = open_and_score(qtbot, window, study_copy)
    before = {row.slot: row.gain for row in window.signal_view.page_renderer().rows}
    press(qtbot, window, Qt.Key.Key_Plus)
    after = {row.slot: row.gain for row in window.signal_view.page_renderer().rows}
    assert after["EEG_C"] == 50.0 and after["ECG"] == 750.0  # one step more sensitive
    assert after["FLOW"] < before["FLOW"]
    assert set(session.settings.gains) == set(after)
    # Breathing rows scale per night: their gains are not carried to the next study.
    assert "FLOW" not in window.preferences.display.gains
    assert window.preferences.display.gains["EEG_C"] == 50.0
