"""Checks on the paths a user gives, made before anything is opened.

Opening a FIFO blocks until something writes to it, and a device such as ``/dev/null`` reads
as an empty file: both must be refused by what they are, before ``open()``, and neither is
"missing". ``os.stat`` never blocks, so it decides.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sleepvit.errors import OutputError, SleepVitError


def file_kind(path: str | Path) -> str:
    """What ``path`` is: ``file``, ``folder``, ``missing`` or another kind of file system entry.

    Symbolic links are followed; a link to nothing is ``missing``.

    >>> file_kind("/dev/null"), file_kind("/"), file_kind("/no/such/file")
    ('a device', 'folder', 'missing')
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError:
        return "unreadable"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def require_regular_file(path: Path, error: type[SleepVitError], what: str) -> None:
    """Raise ``error`` naming ``path`` unless it is a regular file (or a link to one).

    ``what`` says what was expected, e.g. ``"an EDF/BDF recording"``.

    >>> try:
    ...     require_regular_file(Path("/dev/null"), SleepVitError, "an EDF/BDF recording")
    ... except SleepVitError as error:
    ...     print(error)
    /dev/null: is not a regular file (it is a device); give the path of an EDF/BDF recording
    """
    kind = file_kind(path)
    if kind == "file" or kind == "unreadable":
        return  # opening it says why it cannot be read
    if kind == "missing":
        problem = "does not exist"
    elif kind == "folder":
        problem = "is a folder"
    else:
        problem = f"is not a regular file (it is {kind})"
    raise error(f"{problem}; give the path of {what}", path)


def check_output_folder(path: str | Path) -> None:
    """Raise :class:`~sleepvit.errors.OutputError` unless outputs can be written to ``path``.

    ``path`` must be a writable folder, or a folder that can be created (its nearest existing
    parent is a writable folder). Checked before any recording is opened, so that a wrong
    ``out`` costs no scoring time.

    >>> try:
    ...     check_output_folder("/dev/null")
    ... except OutputError as error:
    ...     print(error)
    /dev/null: is not a folder (it is a device); choose another output folder
    """
    path = Path(path)
    kind = file_kind(path)
    if kind == "folder":
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(
                "is a folder you may not write to; choose another output folder", path, ("out",)
            )
        return
    if kind != "missing":
        what = "a file" if kind == "file" else kind
        raise OutputError(
            f"is not a folder (it is {what}); choose another output folder", path, ("out",)
        )
    parent = path.absolute().parent
    while file_kind(parent) == "missing" and parent != parent.parent:
        parent = parent.parent
    parent_kind = file_kind(parent)
    if parent_kind != "folder":
        what = "a file" if parent_kind == "file" else parent_kind
        raise OutputError(
            f"cannot be created: {parent} is not a folder (it is {what}); choose another "
            "output folder",
            path,
            ("out",),
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot be created: you may not write to {parent}; choose another output folder",
            path,
            ("out",),
        )
