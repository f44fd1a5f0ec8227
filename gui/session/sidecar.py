"""The review sidecar: a SQLite file that keeps a technician's work on one recording.

``STEM.sleepvit.sqlite`` sits next to the recording when that folder is writable; otherwise
(a read-only share, a CD) it lives in the user's data folder, named by the recording's
SHA-256, so the same recording finds its review again wherever it is opened from. The EDF
itself is only ever read.

What it holds: the recording's identity (name, size, SHA-256), the AI scoring the review
started from, every stage edit as one row of the audit log (time, epoch, old → new, who,
action), sign-offs and per-study settings (the channel map). The database runs in WAL mode
with ``synchronous=FULL`` and each edit is one transaction, committed (and synced) before
:meth:`Sidecar.append_edit` returns: the screen shows an edit only after it is on disk, so a
crash or ``kill -9`` loses no acknowledged edit.

Stages are stored by name (``N2``, ``UNS``; ``NULL`` = not reviewed) so that an auditor can
read the file with any SQLite tool.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import platformdirs

from sleepvit import __version__
from sleepvit.errors import Cancelled, SleepVitError

SIDECAR_SUFFIX = ".sleepvit.sqlite"
SCHEMA_VERSION = 1
HASH_BLOCK = 1 << 20
NEXT_TO_RECORDING = "next to the recording"
USER_DATA_FOLDER = "in the user data folder"
LOCK_WAIT_S = 0.5
"""How long opening waits for a review file that another SleepViT holds."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS edits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    old TEXT,
    new TEXT,
    who TEXT NOT NULL,
    action TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sign_offs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    last_edit INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ai_scoring (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    saved_at TEXT NOT NULL,
    info TEXT NOT NULL,
    stages BLOB NOT NULL,
    probabilities BLOB NOT NULL,
    epoch_vit BLOB
);
CREATE TABLE IF NOT EXISTS explanation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    saved_at TEXT NOT NULL,
    npz BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SidecarError(SleepVitError):
    """The review file cannot be created, read or written."""


class SidecarLocked(SidecarError):
    """The review file is open in another SleepViT (another window, another computer)."""


@dataclass(frozen=True)
class RecordingIdentity:
    """What makes a recording the same recording: its content, not its name or folder."""

    name: str
    size: int
    sha256: str


def identify_recording(
    path: str | Path, cancelled: Callable[[], bool] | None = None
) -> RecordingIdentity:
    """Name, size and SHA-256 of a recording, read in 1-MiB blocks (0.2 s for 200 MB).

    ``cancelled()`` is asked between blocks; when it says yes,
    :class:`~sleepvit.errors.Cancelled` is raised.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "night.edf"
    >>> _ = path.write_bytes(b"0       ")
    >>> identify_recording(path).sha256[:12]
    '3067a05f9751'
    """
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(HASH_BLOCK):
                if cancelled is not None and cancelled():
                    raise Cancelled(f"reading {path.name} was cancelled")
                digest.update(block)
            size = handle.tell()
    except OSError as exc:
        raise SidecarError(f"cannot be read ({exc.strerror}); check the path", path) from exc
    return RecordingIdentity(path.name, size, digest.hexdigest())


def user_sidecar_folder() -> Path:
    """Where reviews of recordings in read-only folders are kept (platformdirs' user data)."""
    return platformdirs.user_data_path("sleepvit", appauthor=False) / "reviews"


def sidecar_next_to(recording: str | Path) -> Path:
    """``STEM.sleepvit.sqlite`` beside the recording.

    >>> sidecar_next_to("/data/night.edf").as_posix()
    '/data/night.sleepvit.sqlite'
    """
    recording = Path(recording)
    return recording.with_name(recording.stem + SIDECAR_SUFFIX)


def sidecar_in_user_folder(identity: RecordingIdentity) -> Path:
    """The sidecar of a recording in the user data folder, keyed by its content hash."""
    return user_sidecar_folder() / f"{identity.sha256[:32]}{SIDECAR_SUFFIX}"


@dataclass(frozen=True)
class StoredEdit:
    """One row of the audit log; stages by name, ``None`` = not reviewed."""

    seq: int
    time: datetime
    epoch: int
    old: str | None
    new: str | None
    who: str
    action: str


@dataclass(frozen=True)
class StoredSignOff:
    time: datetime
    reviewer: str
    last_edit: int
    """``seq`` of the last edit the sign-off covers (0 before any edit)."""


class Sidecar:
    """An open review file. Use :func:`open_sidecar` to find or create the right one.

    The connection may be handed from the thread that opened it to the GUI thread, but is
    used by one thread at a time.
    """

    def __init__(self, path: Path, identity: RecordingIdentity, where: str, note: str = ""):
        self.path = path
        self.identity = identity
        self.where = where
        """:data:`NEXT_TO_RECORDING` or :data:`USER_DATA_FOLDER`."""
        self.note = note
        """Why the file is where it is, when that is not the obvious place (shown to the user)."""
        try:
            self._db = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=LOCK_WAIT_S
            )
            # One review at a time: the first write takes SQLite's lock on the file and keeps
            # it until this connection closes (the operating system drops it when the app
            # dies, so a killed app leaves no stale lock). Set before WAL starts, so the WAL
            # index lives in this process's memory and no other process can read behind it.
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._db.execute(statement)
                self._init_meta()
        except sqlite3.OperationalError as exc:
            self._close_quietly()
            if not _is_locked(exc):
                raise _unreadable(path, exc) from exc
            raise SidecarLocked(
                "is open in another SleepViT (another window, or another computer sharing the "
                "folder); close the study there, then open it here",
                path,
            ) from exc
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise _unreadable(path, exc) from exc
        except BaseException:  # e.g. SidecarMismatch: in exclusive mode it would stay locked
            self._close_quietly()
            raise

    # ------------------------------------------------------------ identity

    def _init_meta(self) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        if not meta:
            now = _now().isoformat()
            rows = {
                "schema": str(SCHEMA_VERSION),
                "recording_name": self.identity.name,
                "recording_size": str(self.identity.size),
                "recording_sha256": self.identity.sha256,
                "created_at": now,
                "created_by": f"SleepViT {__version__}",
            }
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", rows.items())
            return
        if int(meta.get("schema", 0)) > SCHEMA_VERSION:
            raise SidecarError(
                f"was written by a newer SleepViT (review file schema {meta['schema']}); "
                "open it with that version",
                self.path,
            )
        if meta.get("recording_sha256") != self.identity.sha256:
            raise SidecarMismatch(
                f"belongs to another recording ({meta.get('recording_name')}, different content)",
                self.path,
            )

    # ------------------------------------------------------------ edits

    def append_edit(
        self, epoch: int, old: str | None, new: str | None, who: str, action: str
    ) -> StoredEdit:
        """Write one edit in its own transaction; returns once it is on disk."""
        time = _now()
        with self._writing("save the edit"):
            cursor = self._db.execute(
                "INSERT INTO edits (time, epoch, old, new, who, action) VALUES (?, ?, ?, ?, ?, ?)",
                (time.isoformat(), int(epoch), old, new, who, action),
            )
        return StoredEdit(int(cursor.lastrowid), time, int(epoch), old, new, who, action)

    def edits(self) -> list[StoredEdit]:
        """The whole audit log, oldest first."""
        rows = self._db.execute(
            "SELECT seq, time, epoch, old, new, who, action FROM edits ORDER BY seq"
        )
        return [
            StoredEdit(seq, datetime.fromisoformat(time), epoch, old, new, who, action)
            for seq, time, epoch, old, new, who, action in rows
        ]

    # ------------------------------------------------------------ sign-off

    def add_sign_off(self, reviewer: str, last_edit: int) -> StoredSignOff:
        time = _now()
        with self._writing("save the sign-off"):
            self._db.execute(
                "INSERT INTO sign_offs (time, reviewer, last_edit) VALUES (?, ?, ?)",
                (time.isoformat(), reviewer, int(last_edit)),
            )
        return StoredSignOff(time, reviewer, int(last_edit))

    def sign_offs(self) -> list[StoredSignOff]:
        rows = self._db.execute("SELECT time, reviewer, last_edit FROM sign_offs ORDER BY seq")
        return [StoredSignOff(datetime.fromisoformat(t), r, e) for t, r, e in rows]

    # ------------------------------------------------------------ AI scoring

    def save_ai_scoring(
        self,
        stages: np.ndarray,
        probabilities: np.ndarray,
        epoch_vit: np.ndarray | None,
        info: dict,
    ) -> None:
        """Keep the AI scoring the review is based on (replacing an earlier one)."""
        with self._writing("save the AI scoring"):
            self._db.execute(
                "INSERT OR REPLACE INTO ai_scoring VALUES (1, ?, ?, ?, ?, ?)",
                (
                    _now().isoformat(),
                    json.dumps(info),
                    _blob(np.asarray(stages, np.int8)),
                    _blob(np.asarray(probabilities, np.float32)),
                    None if epoch_vit is None else _blob(np.asarray(epoch_vit, np.float32)),
                ),
            )

    def load_ai_scoring(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict] | None:
        """``(stages, probabilities, epoch_vit or None, info)`` as saved, or ``None``."""
        row = self._db.execute(
            "SELECT stages, probabilities, epoch_vit, info FROM ai_scoring WHERE id = 1"
        ).fetchone()
        if row is None:
            return None
        stages, probabilities, epoch_vit, info = row
        return (
            _array(stages),
            _array(probabilities),
            None if epoch_vit is None else _array(epoch_vit),
            json.loads(info),
        )

    def forget_ai_scoring(self) -> None:
        with self._writing("drop the old AI scoring"):
            self._db.execute("DELETE FROM ai_scoring")

    # ------------------------------------------------------------ explanation

    def save_explanation(self, npz: bytes) -> None:
        """Keep the explanation of the AI scoring (``STEM.relevance.npz`` content)."""
        with self._writing("save the AI's explanations"):
            self._db.execute(
                "INSERT OR REPLACE INTO explanation VALUES (1, ?, ?)", (_now().isoformat(), npz)
            )

    def load_explanation(self) -> bytes | None:
        row = self._db.execute("SELECT npz FROM explanation WHERE id = 1").fetchone()
        return None if row is None else bytes(row[0])

    def forget_explanation(self) -> None:
        with self._writing("drop the old explanations"):
            self._db.execute("DELETE FROM explanation")

    # ------------------------------------------------------------ settings

    def setting(self, key: str, default: object = None) -> object:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: object) -> None:
        with self._writing(f"save the {key.replace('_', ' ')}"):
            self._db.execute(
                "INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value))
            )

    # ------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._db.close()

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        try:
            with self._transaction():
                yield
        except sqlite3.Error as exc:
            raise SidecarError(
                f"cannot {doing} ({exc}); nothing was changed — check the free disk space and "
                "that the folder is still writable",
                self.path,
            ) from exc


class SidecarMismatch(SidecarError):
    """A sidecar found by name holds the review of different recording content."""


def open_sidecar(
    recording: str | Path, identity: RecordingIdentity, create: bool = True
) -> Sidecar | None:
    """The review file of ``recording``: found if it exists, else created (unless ``create``
    is false, which returns ``None``).

    Order: ``STEM.sleepvit.sqlite`` next to the recording (if it is this recording's), then
    the user data folder's file for this content hash; a new file goes next to the recording
    when that folder is writable and to the user data folder otherwise.
    ``Sidecar.note`` says why, when the file is not next to the recording.
    """
    beside = sidecar_next_to(recording)
    in_user_folder = sidecar_in_user_folder(identity)
    note = ""
    if beside.exists():
        try:
            return Sidecar(beside, identity, NEXT_TO_RECORDING)
        except SidecarMismatch as exc:
            note = f"{exc}; this review is kept in {in_user_folder.parent} instead"
        except SidecarLocked:
            raise
        except SidecarError:
            if not os.access(beside.parent, os.W_OK):
                return _copy_to_user_folder(beside, identity, in_user_folder)
            raise
    writable = os.access(beside.parent, os.W_OK)
    if in_user_folder.exists():
        why = note or ("" if writable else _read_only_note(beside))
        return Sidecar(in_user_folder, identity, USER_DATA_FOLDER, why)
    if not create:
        return None
    if not note and writable:
        try:
            return Sidecar(beside, identity, NEXT_TO_RECORDING)
        except SidecarLocked:
            raise
        except SidecarError:
            if beside.exists() and beside.stat().st_size == 0:
                beside.unlink(missing_ok=True)
    return _create_in_user_folder(in_user_folder, identity, note or _read_only_note(beside))


def peek_setting(path: Path, key: str) -> object:
    """A setting of the sidecar at ``path``, read without opening it for the review (and
    without checking whose it is); ``None`` when there is none or it cannot be read."""
    if not path.is_file():
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
        ) as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else json.loads(row[0])


def _read_only_note(beside: Path) -> str:
    return (
        f"the recording's folder {beside.parent} is not writable, so this review is kept in "
        "the user data folder"
    )


def _create_in_user_folder(path: Path, identity: RecordingIdentity, note: str) -> Sidecar:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SidecarError(
            f"cannot create the review folder ({exc.strerror}); make the recording's folder or "
            "your user data folder writable",
            path.parent,
        ) from exc
    return Sidecar(path, identity, USER_DATA_FOLDER, note)


def _copy_to_user_folder(beside: Path, identity: RecordingIdentity, target: Path) -> Sidecar:
    """Continue a review whose file sits in a folder that became read-only."""
    if not target.exists():
        try:
            source = sqlite3.connect(f"file:{beside}?mode=ro", uri=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            copy = sqlite3.connect(target)
            with copy:
                source.backup(copy)
            source.close()
            copy.close()
        except (OSError, sqlite3.Error) as exc:
            raise SidecarError(
                f"is in a read-only folder and cannot be copied to the user data folder ({exc}); "
                "copy the recording and its review file to a writable folder",
                beside,
            ) from exc
    note = f"{beside.name} is in a read-only folder; the review continues in {target}"
    return Sidecar(target, identity, USER_DATA_FOLDER, note)


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or getattr(exc, "sqlite_errorname", "") in (
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
    )


def _unreadable(path: Path, exc: sqlite3.DatabaseError) -> SidecarError:
    return SidecarError(
        f"is not a readable SleepViT review file ({exc}); move it away to start a new "
        "review of this recording, or restore it from a backup",
        path,
    )


def _now() -> datetime:
    return datetime.now().astimezone()


def _blob(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _array(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)
