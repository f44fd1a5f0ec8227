"""``sleepvit-gui``: the desktop app's entry point, and its self-test for the bundle.

``sleepvit-gui [FILE]`` opens the window (and FILE, if given); ``sleepvit-gui --self-test``
simulates a short night in a temporary folder, opens it in the real window offscreen, waits
for the AI scoring, draws a page and checks it shows traces, then exits 0 — the check the
hospital-workstation bundle runs to prove it needs nothing else.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sleepvit import __version__

log = logging.getLogger("sleepvit.gui")

SELF_TEST_TIMEOUT_S = 180.0


def _parser() -> argparse.ArgumentParser:
    from sleepvit.models.backends import BACKEND_NAMES, DEFAULT_BACKEND

    parser = argparse.ArgumentParser(
        prog="sleepvit-gui",
        description="Review a night scored by SleepViT: technician screen, hypnogram, keyboard "
        "scoring, sign-off and export. Edits are kept in STEM.sleepvit.sqlite next to the "
        "recording (or in your user data folder when that folder is read-only).",
    )
    parser.add_argument("file", nargs="?", help="EDF, EDF+ or BDF recording to open")
    parser.add_argument("--weights", metavar="DIR", help="weights folder (default: demo weights)")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default=DEFAULT_BACKEND)
    parser.add_argument(
        "--scored",
        metavar="DIR",
        action="append",
        default=[],
        help="folder of 'sleepvit score' outputs to open without rescoring (repeatable)",
    )
    parser.add_argument("--reviewer", metavar="NAME", help="who is reviewing (audit log)")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open a simulated night offscreen, score it, draw a page and exit (0 = works)",
    )
    parser.add_argument("--version", action="version", version=f"sleepvit-gui {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    weights = Path(args.weights) if args.weights else None
    if args.self_test:
        return self_test(weights, args.backend)
    _log_to_user_folder()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from sleepvit.gui.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SleepViT")
    window = MainWindow(
        weights=weights,
        backend=args.backend,
        scored_folders=tuple(Path(p) for p in args.scored),
        reviewer=args.reviewer,
    )
    _show_uncaught_errors(window)
    window.show()
    if args.file:
        QTimer.singleShot(0, lambda: window._guarded(lambda: window.open_path(Path(args.file)))())
    return app.exec()


def self_test(weights: Path | None = None, backend: str | None = None) -> int:
    """Open a simulated night in the real window offscreen; 0 when a scored page was drawn."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from sleepvit.gui.qt.main_window import MainWindow
    from sleepvit.gui.session.settings import Preferences
    from sleepvit.models.backends import DEFAULT_BACKEND
    from sleepvit.synth import simulate_night, write_night

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="sleepvit-self-test-") as folder:
        edf, _ = write_night(simulate_night(hours=0.25, seed=7), Path(folder) / "self-test.edf")
        window = MainWindow(
            Preferences(), weights, backend or DEFAULT_BACKEND, reviewer="self-test",
            save_preferences=False,
        )  # fmt: skip
        window.resize(1920, 1080)
        window.show()
        failures: list[str] = []
        window.open_path(edf)
        window.worker.failed.connect(lambda error, stage: failures.append(str(error)))
        deadline = time.monotonic() + SELF_TEST_TIMEOUT_S
        while not failures and time.monotonic() < deadline:
            app.processEvents()
            session = window.session
            if session is not None and session.ai is not None and window.worker is None:
                break
            time.sleep(0.01)
        problem = _self_test_problem(window, failures)
        window.close()
        app.processEvents()
    if problem:
        print(f"sleepvit-gui self-test FAILED: {problem}", file=sys.stderr)
        return 1
    return 0


def _self_test_problem(window, failures: list[str]) -> str:
    session = window.session
    if failures:
        return failures[0]
    if session is None or session.ai is None:
        return f"the study was not opened and scored within {SELF_TEST_TIMEOUT_S:g} s"
    page = window.signal_view.current_page()
    if not page.pixels.any():
        return "the page has no traces"
    image = window.grab().toImage()
    if image.isNull() or image.width() < 640:
        return "the window could not be drawn"
    print(
        f"sleepvit-gui self-test passed: {session.n_epochs} epochs scored by "
        f"{session.ai.model_label}, page of {len(page.rows)} signals drawn at "
        f"{page.pixels.shape[1]}×{page.pixels.shape[0]} px"
    )
    return ""


def _log_to_user_folder() -> None:
    """Log to the user's log folder (never next to the program: installs may be read-only)."""
    import platformdirs

    folder = platformdirs.user_log_path("sleepvit", appauthor=False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            folder / "sleepvit-gui.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("sleepvit").addHandler(handler)
    logging.getLogger("sleepvit").setLevel(logging.INFO)


def _show_uncaught_errors(window) -> None:
    """A bug in a slot becomes a dialog and a log entry; the app goes on."""
    from sleepvit.gui.qt.dialogs import show_error

    def hook(kind, error, traceback) -> None:
        log.error("uncaught error", exc_info=(kind, error, traceback))
        show_error(window, error)

    sys.excepthook = hook
