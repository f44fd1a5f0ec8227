"""Shared libraries as the bundle ships them: without the debug information some builds keep.

A pyenv-built libpython carries 17 MB of DWARF data, and a few wheels (kiwisolver, fontTools,
pyedflib, Pillow) keep theirs too; a workstation never reads it.  Only the debug sections are
removed (``strip --strip-debug``): symbols, RPATHs and the layout auditwheel gave a library
stay as they are, so a library that needs none of this is never rewritten.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

ELF_MAGIC = b"\x7fELF"


def has_debug_info(path: str | Path) -> bool:
    """Does this 64-bit little-endian ELF file have a ``.debug_*`` section?

    Anything else (another format, 32-bit, big-endian, unreadable) counts as no.
    """
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if header[:4] != ELF_MAGIC or header[4] != 2 or header[5] != 1:
                return False
            section_offset = struct.unpack_from("<Q", header, 0x28)[0]
            entry_size, count, names_index = struct.unpack_from("<HHH", header, 0x3A)
            f.seek(section_offset)
            table = f.read(entry_size * count)
            names_offset, names_size = struct.unpack_from(
                "<QQ", table, names_index * entry_size + 0x18
            )
            f.seek(names_offset)
            names = f.read(names_size)
            for i in range(count):
                name_at = struct.unpack_from("<I", table, i * entry_size)[0]
                if names[name_at : names.index(b"\0", name_at)].startswith(b".debug_"):
                    return True
    except (OSError, struct.error, ValueError, IndexError):
        return False
    return False


def without_debug_info(binaries: list[tuple], cache: Path) -> tuple[list[tuple], int]:
    """``binaries`` (PyInstaller TOC entries ``(dest, src, typecode)``) with each library that
    has debug information replaced by a stripped copy under ``cache``; and the bytes saved.

    Copies are remade only when their source is newer.  Without binutils' ``strip`` the
    entries come back unchanged.
    """
    strip = shutil.which("strip")
    if strip is None:
        print("binaries.py: no strip (binutils) on PATH; libraries keep their debug information")
        return binaries, 0
    entries, saved = [], 0
    for dest, src, typecode in binaries:
        if has_debug_info(src):
            copy = cache / dest
            if not copy.exists() or copy.stat().st_mtime < Path(src).stat().st_mtime:
                copy.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run([strip, "--strip-debug", "-o", str(copy), src], check=True)
            saved += Path(src).stat().st_size - copy.stat().st_size
            src = str(copy)
        entries.append((dest, src, typecode))
    return entries, saved
