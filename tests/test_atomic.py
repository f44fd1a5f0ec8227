"""Atomic outputs: complete or absent, never partial; as readable as any file the user writes."""

import os
import stat

import pytest

from sleepvit.errors import OutputError
from sleepvit.io.atomic import atomic_open, atomic_path


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path):
    out = tmp_path / "night.hypnogram.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(out) as handle:
        handle.write("half a fil")
        raise RuntimeError("crash mid-write")
    assert out.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [out]


def test_output_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "report.pdf") as tmp:
            tmp.write_bytes(b"%PDF")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.pdf").stat().st_mode) == 0o644


def test_unwritable_folder_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="choose another output folder"):
        with atomic_path(blocker / "sub" / "x.csv"):
            pass
