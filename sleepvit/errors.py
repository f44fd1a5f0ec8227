"""User-facing errors.

Every failure a user can cause (a bad file, a wrong option) raises a subclass of
:class:`SleepVitError`. Its message names the file, says what is wrong and how to
fix it, on one line, in words any front end can show: no command-line flags. When a
setting fixes it, :attr:`SleepVitError.settings` names that setting the way the Python API
does (``channel_map``, ``backend``, …), so each front end can point at its own control. The
CLI prints ``error: <message>`` and the flag of each setting, and exits with
:attr:`SleepVitError.exit_code`; the GUI shows it in a dialog and keeps running.

>>> error = ChannelMappingError("channel map names unknown slot 'EEG_X'", settings=["channel_map"])
>>> str(error), error.settings
("channel map names unknown slot 'EEG_X'", ('channel_map',))
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class SleepVitError(Exception):
    """Base class of every error a user is meant to read."""

    exit_code = 2
    default_settings: tuple[str, ...] = ()
    """What fixes errors of this class when the raiser names no setting."""

    def __init__(self, message: str, path: str | Path | None = None, settings: Iterable[str] = ()):
        self.path = Path(path) if path is not None else None
        self.settings = tuple(settings) or self.default_settings
        """Settings (Python parameter names, e.g. ``channel_map``) whose change fixes this."""
        text = " ".join(str(message).split())  # one line, always
        if self.path is not None and str(self.path) not in text:
            text = f"{self.path}: {text}"
        super().__init__(text)

    def about(self, path: str | Path) -> SleepVitError:
        """The same error, of the same class and settings, naming the file ``path``."""
        return type(self)(str(self), path, self.settings)


class InvalidRecordingError(SleepVitError):
    """The file is not a readable EDF/EDF+/BDF recording."""


class ChannelMappingError(SleepVitError):
    """The recording lacks signals the product needs, or a channel map is wrong."""

    default_settings = ("channel_map",)


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
