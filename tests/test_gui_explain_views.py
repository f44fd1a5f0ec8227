"""The desktop app's explanations on screen (issue 12, phase 2), offscreen with pytest-qt: the
heatmap under the traces (H), neighbours and the detail map computed in the worker (D), the
review queue in the navigator and N/P, recording gaps and lost signals on the page, and a
second window refused an open review."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from test_gui_app import error_dialogs, open_and_score, press  # noqa: E402

from sleepvit.gui.qt import style  # noqa: E402
from sleepvit.gui.qt.navigator import MARK_HEIGHT  # noqa: E402
from sleepvit.gui.session.explanation import ROLLOUT, captum_installed  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_folders")
TIMEOUT_MS = 120_000


def pixel_at(view, page, epoch: int, seconds: float, slot: str, below_top: int = 3):
    row = next(r for r in page.rows if r.slot == slot)
    rect = view.trace_rect()
    scale = 1 / view.devicePixelRatioF()
    image = view.grab().toImage()
    x = rect.left() + round(page.x_of(epoch, seconds) * scale)
    return image.pixelColor(x, rect.top() + round((row.top + below_top) * scale))


def test_h_lays_the_relevance_map_under_the_traces(qtbot, window, study_copy):
    session = open_and_score(qtbot, window, study_copy)
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
    session = open_and_score(qtbot, window, study_copy)
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
    session = open_and_score(qtbot, window, study_copy)
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
    session = open_and_score(qtbot, window, gappy_study)
    window.set_page(300)
    session.go_to(10)  # the first epoch of the interruption
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
    from sleepvit.gui.qt.main_window import MainWindow
    from sleepvit.gui.session.settings import Preferences

    open_and_score(qtbot, window, study_copy)
    second = MainWindow(Preferences(), reviewer="other", save_preferences=False)
    qtbot.addWidget(second)
    second.show()
    second.open_path(study_copy)
    qtbot.waitUntil(lambda: second.worker is None, timeout=TIMEOUT_MS)
    boxes = error_dialogs(second)
    assert boxes and "is open in another SleepViT" in boxes[-1].text()
    assert second.session is None and window.session is not None
    second.close()
