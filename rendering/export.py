"""Epoch images as PNG files (``sleepvit render``): model-size or technician-screen-size."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image  # ships with matplotlib, a runtime dependency

from sleepvit.errors import SleepVitError
from sleepvit.io.atomic import atomic_path
from sleepvit.rendering.config import RenderConfig
from sleepvit.rendering.render import EpochRenderer
from sleepvit.study import Study

SCREEN_SIZE = (1920, 1080)
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


def parse_epochs(text: str) -> list[int]:
    """Epoch numbers as the technician counts them — from 1, as in the hypnogram CSV and the
    report — from ``"100-110"`` (inclusive), ``"7"`` or ``"3,7,10-12"``.

    Examples
    --------
    >>> parse_epochs("3,7,10-12")
    [3, 7, 10, 11, 12]
    """
    epochs: list[int] = []
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
        epochs.extend(range(first, last + 1))
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
    epochs: Sequence[int],
    out_dir: str | Path,
    size: str = "model",
    config: RenderConfig | None = None,
) -> list[Path]:
    """Render epochs (numbered from 1) and write ``<stem>_e<number:04d>_<size>.png`` files.

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
    outside = [n for n in epochs if not 1 <= n <= study.n_epochs]
    if outside:
        raise SleepVitError(
            f"epoch {outside[0]} is outside the recording, which has epochs "
            f"1-{study.n_epochs}; choose epochs in that range",
            study.path,
        )
    renderer = EpochRenderer(study, config_for_size(size, config), antialias=size == "screen")
    rendered = renderer.render([n - 1 for n in epochs])
    stem = Path(study.path).stem
    return [
        write_png(image, Path(out_dir) / f"{stem}_e{number:04d}_{size}.png")
        for number, image in zip(epochs, rendered.images, strict=True)
    ]
