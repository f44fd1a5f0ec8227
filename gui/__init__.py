"""The SleepViT desktop app for sleep technicians (PySide6): ``sleepvit-gui``.

:mod:`sleepvit.gui.session` is the review without Qt (study, hypnograms, edits, sidecar,
settings, export); :mod:`sleepvit.gui.qt` holds the views; :mod:`sleepvit.gui.app` is the
entry point. Nothing else imports this package (DESIGN.md: dependency direction).
"""
