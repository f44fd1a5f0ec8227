"""The process the kill -9 test kills: the real SleepViT window, offscreen, scored by keys.

``python tests/review_driver.py RECORDING SEED`` opens the recording in the real main window,
waits for the AI scoring, prints ``READY``, then presses scoring keys (and now and then undo)
for ever, each one chosen to change the epoch it lands on. After each key it prints ``ACK``
and what the window then shows in its status line (``Saved: epoch 12 → N2``): the technician's
acknowledgement. The test kills it at a random moment and checks that every acknowledged edit
is in the sidecar.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sleepvit.gui.qt.main_window import MainWindow  # noqa: E402
from sleepvit.gui.session.settings import Preferences  # noqa: E402
from sleepvit.hypnogram import STAGE_CODE  # noqa: E402

KEYS = {
    Qt.Key.Key_W: STAGE_CODE["W"],
    Qt.Key.Key_1: STAGE_CODE["N1"],
    Qt.Key.Key_2: STAGE_CODE["N2"],
    Qt.Key.Key_3: STAGE_CODE["N3"],
    Qt.Key.Key_R: STAGE_CODE["REM"],
}


def main(recording: str, seed: str) -> None:
    app = QApplication(sys.argv[:1])
    window = MainWindow(Preferences(), reviewer="crash-test", save_preferences=False)
    window.show()
    window.open_path(Path(recording))
    while window.session is None or window.session.ai is None or window.worker is not None:
        app.processEvents()
        time.sleep(0.005)
    window.activateWindow()
    app.processEvents()
    print("READY", flush=True)
    session = window.session
    rng = random.Random(int(seed))
    while True:
        if session.review.can_undo and rng.random() < 0.15:
            QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        else:
            if rng.random() < 0.3:
                session.go_to(rng.randrange(session.n_epochs))
            current = session.review.stage(session.current)
            key = rng.choice([k for k, code in KEYS.items() if code != current])
            QTest.keyClick(window, key)
        print(f"ACK {window.message.text()}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
