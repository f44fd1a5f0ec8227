"""The Qt views of the review (PySide6): they draw :mod:`sleepvit.gui.session` and turn keys
and clicks into its calls. No review logic lives here."""
