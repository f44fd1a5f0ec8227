"""User-facing errors.

Every failure a user can cause (a bad file, a wrong option) raises a subclass of
:class:`SleepVitError`. Its message names the file, says what is wrong and how to
fix it, on one line. The CLI prints it as ``error: <message>`` and exits with
:attr:`SleepVitError.exit_code`; the GUI shows it in a dialog and keeps running.
"""

from __future__ import annotations

from pathlib import Path


class SleepVitError(Exception):
    """Base class of every error a user is meant to read."""

    exit_code = 2

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        text = " ".join(str(message).split())  # one line, always
        if self.path is not None and str(self.path) not in text:
            text = f"{self.path}: {text}"
        super().__init__(text)


class InvalidRecordingError(SleepVitError):
    """The file is not a readable EDF/EDF+/BDF recording."""


class ChannelMappingError(SleepVitError):
    """The recording lacks signals the product needs, or a channel map is wrong."""


class HypnogramError(SleepVitError):
    """A hypnogram file cannot be read, or does not fit its recording."""


class ModelError(SleepVitError):
    """Model weights are missing, corrupt or incompatible with the input."""


class OutputError(SleepVitError):
    """An output cannot be written (permissions, disk full, existing files)."""


class Cancelled(Exception):
    """The user stopped the work (the GUI's cancel button); nothing was written.

    Not a :class:`SleepVitError`: nothing went wrong, so there is nothing to report.
    """
