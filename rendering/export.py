"""Epoch images as PNG files (``sleepvit render``): model-size or technician-screen-size."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image  # ships with matplotlib, a runtime dependency

from sleepvit.errors import SleepVitError
from sleepvit.io.atomic import atomic_path
from sleepvit.rendering.config import RenderConfig
from sleepvit.rendering.render import EpochRenderer
from sleepvit.study import Study

SCREEN_SIZE = (1920, 1080)
EXPORT_BATCH = 20
"""Epochs drawn at once by :func:`export_epochs`: one renderer chunk (2 MB each at screen size)."""
SIZES = ("model", "screen")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def config_for_size(size: str, base: RenderConfig | None = None) -> RenderConfig:
    """``model`` = the model's input geometry; ``screen`` = the same drawing at 1920 × 1080.

    Examples
    --------
    >>> config_for_size("screen").width
    1920
    """
    base = base if base is not None else RenderConfig()
    if size == "model":
        return base
    if size == "screen":
        return base.with_size(*SCREEN_SIZE)
    raise ValueError(f"size must be one of {SIZES}, got {size!r}")


def parse_epochs(text: str) -> list[range]:
    """Epoch numbers as the technician counts them — from 1, as in the hypnogram CSV and the
    report — from ``"100-110"`` (inclusive), ``"7"`` or ``"3,7,10-12"``, as ranges.

    Ranges are never expanded here: ``1-999999999`` costs nothing until it is checked
    against the night (:func:`export_epochs`).

    Examples
    --------
    >>> parse_epochs("3,7,10-12")
    [range(3, 4), range(7, 8), range(10, 13)]
    >>> [n for r in parse_epochs("3,7,10-12") for n in r]
    [3, 7, 10, 11, 12]
    """
    epochs: list[range] = []
    for part in text.replace(" ", "").split(","):
        match = _RANGE.match(part)
        if (
            not match
            or int(match[1]) == 0
            or (match[2] is not None and int(match[2]) < int(match[1]))
        ):
            raise SleepVitError(
                f"cannot read epochs {text!r}; write them as 100-110, 7 or 3,7,10-12 "
                "(numbers from 1, ranges inclusive)"
            )
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        epochs.append(range(first, last + 1))
    return epochs


def write_png(image: np.ndarray, path: str | Path) -> Path:
    """Write one grey-level image (uint8 ``[H, W]``) as an 8-bit PNG, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(
            tmp, format="PNG", optimize=True
        )
    return path


def export_epochs(
    study: Study,
    epochs: Iterable[int | range],
    out_dir: str | Path,
    size: str = "model",
    config: RenderConfig | None = None,
) -> list[Path]:
    """Render epochs (numbered from 1) and write ``<stem>_e<number:04d>_<size>.png`` files.

    ``epochs`` holds numbers, or ranges of them (:func:`parse_epochs`). All are checked
    against the night before anything is drawn; then :data:`EXPORT_BATCH` epochs at a time
    are drawn and written, so memory stays that of one batch however many are asked for.
    The screen size is anti-aliased, as the GUI shows it; the model size is drawn exactly as
    the model sees it.

    Examples
    --------
    >>> from datetime import datetime
    >>> import tempfile
    >>> import numpy as np
    >>> from sleepvit.study import SlotSignal, Study
    >>> eeg = SlotSignal("EEG_C", np.zeros(3000, np.float32), 100.0, "C4-M1", "uV")
    >>> study = Study("SC4001E0-PSG.edf", datetime(2026, 1, 1, 22), 30.0, {"EEG_C": eeg})
    >>> [p.name for p in export_epochs(study, [1], tempfile.mkdtemp())]
    ['SC4001E0-PSG_e0001_model.png']
    """
    ranges = [range(e, e + 1) if isinstance(e, int) else e for e in epochs]
    last = study.n_epochs
    outside = next(
        (
            r[0] if not 1 <= r[0] <= last else last + 1  # the first number past the night
            for r in ranges
            if r and not (1 <= r[0] <= last and 1 <= r[-1] <= last)
        ),
        None,
    )
    if outside is not None:
        raise SleepVitError(
            f"epoch {outside} is outside the recording, which has epochs "
            f"1-{study.n_epochs}; choose epochs in that range",
            study.path,
        )
    renderer = EpochRenderer(study, config_for_size(size, config), antialias=size == "screen")
    stem = Path(study.path).stem
    written = []
    for numbers in _batches(ranges, EXPORT_BATCH):
        rendered = renderer.render([n - 1 for n in numbers])
        written += [
            write_png(image, Path(out_dir) / f"{stem}_e{number:04d}_{size}.png")
            for number, image in zip(numbers, rendered.images, strict=True)
        ]
    return written


def _batches(ranges: list[range], size: int) -> Iterator[list[int]]:
    """The numbers of ``ranges`` in order, ``size`` at a time."""
    batch: list[int] = []
    for number in itertools.chain.from_iterable(ranges):
        batch.append(number)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
