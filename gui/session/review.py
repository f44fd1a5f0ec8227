"""The technician's hypnogram: every stage they set, how (the audit log), undo/redo, sign-off.

An epoch starts *not reviewed* (the AI's stage stands in for it in exports). Scoring it,
accepting the AI's stage, undoing and redoing are all edits: each is written to the sidecar
in its own transaction before the in-memory hypnogram changes and the views hear of it, so
what the screen shows is on disk. The undo history is rebuilt from the audit log when a
study is reopened, so undo works across sessions and crashes too.

Examples
--------
>>> import tempfile, pathlib
>>> from sleepvit.gui.session.sidecar import RecordingIdentity, Sidecar
>>> path = pathlib.Path(tempfile.mkdtemp()) / "night.sleepvit.sqlite"
>>> store = Sidecar(path, RecordingIdentity("night.edf", 1, "ab12"), "next to the recording")
>>> review = Review(store, n_epochs=3, reviewer="anna")
>>> review.score(0, STAGE_CODE["N2"]), review.stage(0)
(True, 2)
>>> review.undo(), review.stage(0)
(0, None)
>>> reopened = Review(store, n_epochs=3, reviewer="anna")  # history rebuilt from the sidecar
>>> reopened.can_redo, [entry.action for entry in reopened.audit]
(True, ['score', 'undo'])
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from sleepvit.gui.session.events import Emitter
from sleepvit.gui.session.sidecar import Sidecar, StoredEdit
from sleepvit.hypnogram import STAGE_CODE, stage_name

NOT_REVIEWED = -2
"""Code of an epoch the technician has not scored yet (stage codes run from UNS = -1)."""

SCORE = "score"
ACCEPT_AI = "accept AI"
UNDO = "undo"
REDO = "redo"


@dataclass(frozen=True)
class Edit:
    """One change of one epoch's technician stage (``None`` = not reviewed)."""

    epoch: int
    old: int | None
    new: int | None

    def inverse(self) -> Edit:
        return Edit(self.epoch, self.new, self.old)


@dataclass(frozen=True)
class AuditEntry:
    """A line of the audit log: when, which epoch (from 0), old → new, who and how."""

    time: datetime
    epoch: int
    old: int | None
    new: int | None
    who: str
    action: str
    seq: int

    def describe(self) -> str:
        """One line for the audit view, epochs counted from 1.

        >>> from datetime import datetime
        >>> AuditEntry(datetime(2026, 1, 2, 3, 4, 5), 9, None, 2, "anna", "score", 1).describe()
        '2026-01-02 03:04:05  epoch 10: — → N2  (anna, score)'
        """
        return (
            f"{self.time:%Y-%m-%d %H:%M:%S}  epoch {self.epoch + 1}: {_label(self.old)} → "
            f"{_label(self.new)}  ({self.who}, {self.action})"
        )


@dataclass(frozen=True)
class SignOff:
    reviewer: str
    time: datetime
    last_edit: int
    """Audit ``seq`` of the last edit it covers."""


class Review:
    """The technician hypnogram of one night, kept in ``sidecar``.

    ``changed`` is emitted with the epoch after every applied edit (including undo/redo);
    ``signed`` after a sign-off.
    """

    def __init__(self, sidecar: Sidecar, n_epochs: int, reviewer: str):
        self.sidecar = sidecar
        self.reviewer = reviewer
        self._stages = np.full(n_epochs, NOT_REVIEWED, dtype=np.int8)
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._audit: list[AuditEntry] = []
        self.changed = Emitter()
        self.signed = Emitter()
        for stored in sidecar.edits():
            self._replay(stored)
        self._sign_offs = [SignOff(s.reviewer, s.time, s.last_edit) for s in sidecar.sign_offs()]

    # ------------------------------------------------------------ reading

    @property
    def n_epochs(self) -> int:
        return int(self._stages.size)

    @property
    def stages(self) -> np.ndarray:
        """int8 codes per epoch; :data:`NOT_REVIEWED` where the technician has not scored."""
        view = self._stages.view()
        view.flags.writeable = False
        return view

    def stage(self, epoch: int) -> int | None:
        code = int(self._stages[self._checked(epoch)])
        return None if code == NOT_REVIEWED else code

    @property
    def reviewed(self) -> np.ndarray:
        return self._stages != NOT_REVIEWED

    @property
    def audit(self) -> list[AuditEntry]:
        return list(self._audit)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    # ------------------------------------------------------------ editing

    def score(self, epoch: int, stage: int, action: str = SCORE) -> bool:
        """Set the technician's stage of ``epoch``; False (nothing logged) if it already is."""
        if stage not in STAGE_CODE.values():
            raise ValueError(f"{stage!r} is not a stage code")
        edit = Edit(self._checked(epoch), self.stage(epoch), int(stage))
        if edit.old == edit.new:
            return False
        self._apply(edit, action)
        self._undo.append(edit)
        self._redo.clear()
        return True

    def undo(self) -> int | None:
        """Undo the last edit; returns its epoch, or ``None`` when there is nothing to undo."""
        if not self._undo:
            return None
        edit = self._undo[-1]
        self._apply(edit.inverse(), UNDO)
        self._redo.append(self._undo.pop())
        return edit.epoch

    def redo(self) -> int | None:
        if not self._redo:
            return None
        edit = self._redo[-1]
        self._apply(edit, REDO)
        self._undo.append(self._redo.pop())
        return edit.epoch

    def _apply(self, edit: Edit, action: str) -> None:
        # On disk first: if the write fails, nothing changes and the error reaches the user.
        stored = self.sidecar.append_edit(
            edit.epoch, _name(edit.old), _name(edit.new), self.reviewer, action
        )
        self._stages[edit.epoch] = NOT_REVIEWED if edit.new is None else edit.new
        self._audit.append(_entry(stored))
        self.changed.emit(edit.epoch)

    def _replay(self, stored: StoredEdit) -> None:
        edit = Edit(stored.epoch, _code(stored.old), _code(stored.new))
        if not 0 <= edit.epoch < self.n_epochs:
            return  # cannot happen for this recording's sidecar; never crash on it
        self._stages[edit.epoch] = NOT_REVIEWED if edit.new is None else edit.new
        self._audit.append(_entry(stored))
        if stored.action == UNDO and self._undo:
            self._redo.append(self._undo.pop())
        elif stored.action == REDO and self._redo:
            self._undo.append(self._redo.pop())
        else:
            self._undo.append(edit)
            self._redo.clear()

    # ------------------------------------------------------------ sign-off

    def sign_off(self, reviewer: str) -> SignOff:
        """Record that ``reviewer`` reviewed the night as it stands now."""
        reviewer = " ".join(reviewer.split())
        if not reviewer:
            raise ValueError("a sign-off needs the reviewer's name")
        stored = self.sidecar.add_sign_off(reviewer, self.last_edit)
        sign_off = SignOff(stored.reviewer, stored.time, stored.last_edit)
        self._sign_offs.append(sign_off)
        self.signed.emit(sign_off)
        return sign_off

    @property
    def last_edit(self) -> int:
        return self._audit[-1].seq if self._audit else 0

    @property
    def sign_off_record(self) -> SignOff | None:
        """The latest sign-off, if no edit came after it (otherwise the night needs a new one)."""
        if self._sign_offs and self._sign_offs[-1].last_edit == self.last_edit:
            return self._sign_offs[-1]
        return None

    @property
    def sign_offs(self) -> list[SignOff]:
        return list(self._sign_offs)

    def _checked(self, epoch: int) -> int:
        epoch = int(epoch)
        if not 0 <= epoch < self.n_epochs:
            raise IndexError(f"epoch {epoch} is outside the night (0-{self.n_epochs - 1})")
        return epoch


def _name(code: int | None) -> str | None:
    return None if code is None else stage_name(code)


def _code(name: str | None) -> int | None:
    return None if name is None else STAGE_CODE[name]


def _label(code: int | None) -> str:
    return "—" if code is None else stage_name(code)


def _entry(stored: StoredEdit) -> AuditEntry:
    return AuditEntry(
        stored.time,
        stored.epoch,
        _code(stored.old),
        _code(stored.new),
        stored.who,
        stored.action,
        stored.seq,
    )
