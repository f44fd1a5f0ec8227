"""A technician's edits survive the app being killed: a real app process, ``kill -9`` mid-review.

``review_driver.py`` runs the real main window offscreen and scores epochs with key presses,
printing each acknowledgement the window shows. The test kills it with SIGKILL at some moment
of its typing, then reads the sidecar and reopens the study in a new window: every
acknowledged edit must be there, in order, and at most one edit more (one that was committed
but killed before the screen showed it).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from sleepvit.gui.session.review import NOT_REVIEWED  # noqa: E402
from sleepvit.gui.session.sidecar import identify_recording, open_sidecar  # noqa: E402
from sleepvit.hypnogram import STAGE_CODE  # noqa: E402

DRIVER = Path(__file__).with_name("review_driver.py")
ACK = re.compile(r"^ACK Saved: epoch (\d+) → (.+)$")
START_TIMEOUT_S = 120


def _lines(process: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _acknowledged(line: str) -> tuple[int, int | None]:
    match = ACK.match(line)
    assert match, f"unexpected driver output {line!r}"
    stage = match[2]
    return int(match[1]) - 1, None if stage == "not reviewed" else STAGE_CODE[stage]


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "kill_after"), [(1, 60), (2, 137)])
def test_kill_9_mid_review_loses_no_acknowledged_edit(
    qtbot, study_copy, user_folders, seed, kill_after
):
    process = subprocess.Popen(
        [sys.executable, str(DRIVER), str(study_copy), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"QT_QPA_PLATFORM": "offscreen"},
    )
    lines = _lines(process)
    acknowledged: list[tuple[int, int | None]] = []
    try:
        started = time.monotonic()
        while (line := lines.get(timeout=START_TIMEOUT_S)) != "READY":
            assert line is not None, f"the app died: {process.stderr.read()}"
            assert time.monotonic() - started < START_TIMEOUT_S
        while len(acknowledged) < kill_after:
            line = lines.get(timeout=START_TIMEOUT_S)
            assert line is not None, f"the app died: {process.stderr.read()}"
            acknowledged.append(_acknowledged(line))
        time.sleep(0.003 * seed)  # somewhere inside the next edits
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    while (line := lines.get(timeout=10)) is not None:  # printed before the kill: seen too
        acknowledged.append(_acknowledged(line))

    sidecar = open_sidecar(study_copy, identify_recording(study_copy), create=False)
    edits = sidecar.edits()
    sidecar.close()
    assert len(acknowledged) <= len(edits) <= len(acknowledged) + 1
    assert [(e.epoch, e.new) for e in edits[: len(acknowledged)]] == [
        (epoch, None if stage is None else _name(stage)) for epoch, stage in acknowledged
    ]

    expected = np.full(50, NOT_REVIEWED, np.int8)
    for edit in edits:
        expected[edit.epoch] = NOT_REVIEWED if edit.new is None else STAGE_CODE[edit.new]
    from sleepvit.gui.qt.main_window import MainWindow
    from sleepvit.gui.session.settings import Preferences

    window = MainWindow(Preferences(), reviewer="after-crash", save_preferences=False)
    qtbot.addWidget(window)
    window.open_path(study_copy)
    qtbot.waitUntil(lambda: window.session is not None, timeout=60_000)
    np.testing.assert_array_equal(window.session.review.stages, expected)
    assert len(window.session.review.audit) == len(edits)
    window.close()


def _name(code: int) -> str:
    from sleepvit.hypnogram import stage_name

    return stage_name(code)
