"""The measuring side of ``sleepvit bench gui``: the real window, offscreen, on an 8-h night.

Run in a fresh process by :mod:`sleepvit.bench.gui` (so its memory is the app's own), with
``python -m sleepvit.gui.bench EDF REPEAT``; prints one JSON object:

* ``startup_s`` — imports and the 1920 × 1080 main window, before any study;
* ``first_page_s`` — from asking to open the night to its first page painted (hashing,
  loading, the first render; the AI scoring goes on in the background afterwards);
* ``scored_s`` — from asking to open to the AI scoring in the navigator;
* ``flip_ms`` — one page turn each with the relevance heatmap on (the Right or PageDown key
  through the window's shortcut, then a synchronous repaint of the whole window: signals and
  their heatmap, navigator, AI panel), for 30-s
  and 300-s pages, medians and 95th percentiles, twice: *reading* (the event loop idles
  :data:`READING_S` between keys, as when a technician looks at each page, so the next page
  is prefetched) and *holding the key* (flips back to back, nothing prefetched in time); then
  the 30-s key-held flips again with the heatmap off, in the same run;
* ``rss_mb`` / ``peak_rss_mb`` — memory with the night open and scored.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

SIZE = (1920, 1080)
FLIP_WARMUP = 3
READING_S = 0.15


def _memory_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024


def _flips(app, window, page_s: int, count: int, reading_s: float) -> list[float]:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    window.set_page(page_s)
    window.session.first()
    window.repaint()
    times = []
    key = Qt.Key.Key_PageDown if page_s > 30 else Qt.Key.Key_Right
    for _ in range(count + FLIP_WARMUP):
        if reading_s:
            _idle(app, reading_s)
        started = time.perf_counter()
        QTest.keyClick(window, key)
        window.repaint()
        if not reading_s:
            app.processEvents()  # a held key leaves no time to prefetch: its cost is the flip's
        times.append(time.perf_counter() - started)
    return [1000 * t for t in times[FLIP_WARMUP:]]


def _wait_for(app, *signals) -> None:
    """Run the event loop until one of ``signals`` is emitted (and its slots have run)."""
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    for signal in signals:
        signal.connect(loop.quit)
    loop.exec()


def _idle(app, seconds: float) -> None:
    until = time.perf_counter() + seconds
    while True:
        app.processEvents()
        if time.perf_counter() >= until:
            return
        time.sleep(0.005)


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
        "n": len(ordered),
    }


def measure(edf: Path, repeat: int) -> dict:
    started = time.perf_counter()
    from PySide6.QtWidgets import QApplication

    from sleepvit.gui.qt.main_window import MainWindow
    from sleepvit.gui.session.settings import Preferences

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(Preferences(), reviewer="bench", save_preferences=False)
    window.resize(*SIZE)
    window.show()
    app.processEvents()
    startup_s = time.perf_counter() - started

    opened_at = time.perf_counter()
    window.open_path(edf)
    worker = window.worker
    # Wait in Qt's event loop, as the app does: a polling loop would fight the worker for
    # the interpreter lock and slow the very opening it measures.
    _wait_for(app, worker.opened, worker.failed)
    if window.session is None:
        raise RuntimeError(f"{edf} could not be opened")
    window.signal_view.repaint()
    first_page_s = time.perf_counter() - opened_at
    if window.worker is not None:
        _wait_for(app, worker.finished)
    window.repaint()
    scored_s = time.perf_counter() - opened_at
    if window.session.ai is None:
        raise RuntimeError(f"{edf} was not scored")
    if window.session.explanation is not None:
        window.toggle_heatmap()
    count = max(repeat, 1) * 20
    flips = {
        f"{page}s {mode}": _summary(_flips(app, window, page, count, idle))
        for page in (30, 300)
        for mode, idle in (("reading", READING_S), ("holding", 0.0))
    }
    heatmap = window.session.heatmap_visible
    if heatmap:  # the same flips without it, to tell its cost from the machine's load
        window.toggle_heatmap()
        flips["30s holding, heatmap off"] = _summary(_flips(app, window, 30, count, 0.0))
    result = {
        "epochs": window.session.n_epochs,
        "file_mb": edf.stat().st_size / 1e6,
        "window": list(SIZE),
        "trace_px": list(window.signal_view.current_page().pixels.shape[::-1]),
        "startup_s": startup_s,
        "first_page_s": first_page_s,
        "scored_s": scored_s,
        "heatmap": heatmap,
        "flip_ms": flips,
        "rss_mb": _memory_mb("VmRSS"),
        "peak_rss_mb": _memory_mb("VmHWM"),
        "platform": app.platformName(),
    }
    window.close()
    return result


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    edf, repeat = sys.argv[1:]
    print(json.dumps(measure(Path(edf), int(repeat))))
