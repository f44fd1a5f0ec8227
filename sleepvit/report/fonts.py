"""Fonts of the report and its pictures: every character drawn, no warning on the terminal.

Names, file names and annotations come from recordings made all over the world. DejaVu Sans
(shipped with matplotlib) covers Latin, Greek and Cyrillic; matplotlib falls back glyph by
glyph along a list of fonts, so any wide-coverage font the workstation has (CJK ones such as
Noto Sans CJK, Microsoft YaHei, MS Gothic) is listed next, and matplotlib's own *Last Resort*
font last: a character no font has is drawn as a box naming its Unicode block, and the text
stays searchable in the PDF. Only installed fonts are listed, so matplotlib never logs that a
family is missing, and its "Glyph … missing" warning is silenced as a last guard.

Examples
--------
>>> font_family()[0]
'DejaVu Sans'
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Iterator

from matplotlib import font_manager, rc_context

_WIDE_COVERAGE = (
    "Noto Sans",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "MS Gothic",
    "Yu Gothic",
    "Malgun Gothic",
    "PingFang SC",
    "Hiragino Sans",
    "Arial Unicode MS",
)
"""Fonts tried after DejaVu Sans, when installed, in this order."""
LAST_RESORT = "Last Resort High-Efficiency"


@functools.cache
def font_family() -> tuple[str, ...]:
    """DejaVu Sans, the installed wide-coverage fonts, then matplotlib's Last Resort font."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    wide = [name for name in _WIDE_COVERAGE if name in installed]
    last = [LAST_RESORT] if LAST_RESORT in installed else []
    return ("DejaVu Sans", *wide, *last)


@contextlib.contextmanager
def report_style(**rc: object) -> Iterator[None]:
    """Draw with :func:`font_family` (plus ``rc`` settings) and without font warnings.

    matplotlib looks every listed family up for every text, and logs when a fallback font
    lacks a weight (Last Resort has no bold): that is no news to a user, so the font
    manager's log is quieted while the report is drawn.
    """
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), rc_context({"font.family": list(font_family()), **rc}):
            warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
            yield
    finally:
        font_log.setLevel(level)


def printable(text: str) -> str:
    """``text`` with control characters (a damaged header's bytes) shown as ``?``.

    >>> printable("Doe\\x1cJane")
    'Doe?Jane'
    """
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))
