"""The study under review, without Qt: what the technician screen, navigator and AI panel show.

Everything a review is made of — the recording, the AI's and the technician's hypnograms,
edits with undo/redo and their audit log, sign-off, display settings, the SQLite sidecar,
exports — lives here and is tested without a screen. :mod:`sleepvit.gui.qt` only draws it
and turns keys into calls. Nothing in this package imports Qt.
"""
