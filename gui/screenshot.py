"""Take the README's screenshot of the real window: ``make screenshot``.

Run under ``xvfb-run`` (a real X server, the ``xcb`` platform plugin) or offscreen. The demo
night (8 h, seed 7, never used in training) is simulated, opened and scored by the shipped
model, and the start of a review is played through the session, as keys would do it: the
first two hours accepted epoch by epoch, then the next uncertain epoch of the queue is shown
with the relevance heatmap on (``H``) and its neighbours computed.
The simulator's own hypnogram is moved out of the way: beside the recording it would show as
a scoring on file, and a κ against the simulator that made the night is no clinical number.

    xvfb-run -s "-screen 0 1920x1080x24" python -m sleepvit.gui.screenshot docs/screenshot.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REVIEWED_EPOCHS = 240


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sleepvit.gui.screenshot")
    parser.add_argument("out", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("demo-output"))
    parser.add_argument("--page", type=int, default=30, help="page width in seconds")
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from sleepvit.gui.qt.main_window import MainWindow
    from sleepvit.gui.session.settings import DisplaySettings, Preferences
    from sleepvit.synth import simulate_night, write_night

    app = QApplication.instance() or QApplication(sys.argv[:1])
    folder = args.workdir / "screenshot"
    folder.mkdir(parents=True, exist_ok=True)
    edf = folder / "demo-night.edf"
    for stale in folder.glob("demo-night.sleepvit.sqlite*"):
        stale.unlink()
    if not edf.exists():
        _, truth = write_night(simulate_night(hours=8, seed=7, style="hospital"), edf)
        truth.replace(folder / "simulated-stages.edf")

    preferences = Preferences(display=DisplaySettings(page_s=args.page))
    window = MainWindow(preferences, reviewer="A. Technician", save_preferences=False)
    window.resize(1920, 1080)
    window.show()
    window.open_path(edf)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        app.processEvents()
        if window.session is not None and window.session.ai is not None and window.worker is None:
            break
        time.sleep(0.01)
    session = window.session
    if session is None or session.ai is None:
        print("the demo night was not opened and scored", file=sys.stderr)
        return 1

    session.first()
    for _ in range(REVIEWED_EPOCHS):
        session.accept_ai()
    queue = session.queue
    later = [int(e) for e in queue.epochs if e >= REVIEWED_EPOCHS] if queue else []
    session.go_to(min(later) if later else REVIEWED_EPOCHS)
    if session.explanation is not None and not session.heatmap_visible:
        session.toggle_heatmap()
    deadline = time.monotonic() + 60
    while session.explain_jobs() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(args.out)):
        print(f"cannot write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({app.platformName()}, epoch {session.current + 1})")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
