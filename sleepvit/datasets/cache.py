"""Rendered-epoch cache: every night is drawn once, then read back as memory-mapped arrays.

Rendering a night costs far more than reading it, and training visits each epoch many
times (and a second training with other hyper-parameters visits them again). A night's
entry is keyed by the content hash of its recording and hypnogram, the
:class:`~sleepvit.rendering.config.RenderConfig` fingerprint and the channel map, so a
changed file or drawing never reuses stale images. Entries are ``.npy`` files (uint8
images ``[n, H, W]``, present ``[n_slots]``, int8 labels ``[n]``) written atomically,
with ``meta.json`` written last as the mark of a complete entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepvit.datasets.nights import NightRecord
from sleepvit.hypnogram import UNS, Hypnogram
from sleepvit.io import load_study
from sleepvit.io.atomic import atomic_open, atomic_path
from sleepvit.io.hypnograms import read_hypnogram
from sleepvit.rendering import RenderConfig, render_epochs
from sleepvit.slots import EPOCH_SECONDS

CACHE_FORMAT = 1
"""Bumped whenever the entry layout changes, so old entries are ignored."""


def default_cache_dir() -> Path:
    """``$SLEEPVIT_CACHE`` or ``$XDG_CACHE_HOME/sleepvit/renders`` (``~/.cache/...``)."""
    if "SLEEPVIT_CACHE" in os.environ:
        return Path(os.environ["SLEEPVIT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "sleepvit" / "renders"


@dataclass(frozen=True)
class CachedNight:
    """A rendered, labelled night; ``images`` is a read-only memory map."""

    record: NightRecord
    images: np.ndarray
    present: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)


def labels_for_epochs(hypnogram: Hypnogram, n_epochs: int) -> np.ndarray:
    """Stage of each 30-s recording epoch: the hypnogram epoch covering its centre, else UNS.

    Handles hypnograms that start later than the recording (``offset_s``) or end earlier.

    Examples
    --------
    >>> hyp = Hypnogram.from_names(["N1", "N2"], offset_s=30.0)
    >>> labels_for_epochs(hyp, 4).tolist()
    [-1, 1, 2, -1]
    """
    centres = np.arange(n_epochs) * EPOCH_SECONDS + EPOCH_SECONDS / 2
    index = np.floor((centres - hypnogram.offset_s) / hypnogram.epoch_s).astype(np.int64)
    inside = (index >= 0) & (index < len(hypnogram))
    labels = np.full(n_epochs, UNS, dtype=np.int8)
    labels[inside] = hypnogram.stages[index[inside]]
    return labels


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class RenderCache:
    """Renders nights on first use and memory-maps them afterwards.

    Examples
    --------
    >>> cache = RenderCache("cache/renders")  # doctest: +SKIP
    >>> night = cache.load(record)            # doctest: +SKIP
    >>> night.images.shape                    # doctest: +SKIP
    (960, 176, 240)
    """

    def __init__(
        self,
        root: str | Path,
        config: RenderConfig | None = None,
        channel_map: str | Path | None = None,
    ):
        self.root = Path(root)
        self.config = config or RenderConfig()
        self.channel_map = channel_map
        map_text = Path(channel_map).read_text() if channel_map else ""
        self._salt = f"{CACHE_FORMAT}:{self.config.fingerprint()}:{map_text}"

    def key(self, record: NightRecord) -> str:
        """Content key of a night's entry (file hashes + drawing + channel map)."""
        parts = [self._salt, file_digest(record.edf), file_digest(record.hypnogram)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]

    def load(self, record: NightRecord) -> CachedNight:
        """The night's images, present mask and labels; renders it if not cached yet."""
        entry = self.root / self.key(record)
        if not (entry / "meta.json").is_file():
            self._render(record, entry)
        return CachedNight(
            record=record,
            images=np.load(entry / "images.npy", mmap_mode="r"),
            present=np.load(entry / "present.npy"),
            labels=np.load(entry / "labels.npy"),
        )

    def _render(self, record: NightRecord, entry: Path) -> None:
        study = load_study(record.edf, channel_map=self.channel_map)
        rendered = render_epochs(study, self.config)
        hypnogram = read_hypnogram(record.hypnogram, study.start, study.duration_s)
        labels = labels_for_epochs(hypnogram, len(rendered.images))
        entry.mkdir(parents=True, exist_ok=True)
        with atomic_path(entry / "images.npy") as tmp:
            images = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.uint8, shape=rendered.images.shape
            )
            images[:] = rendered.images
            images.flush()
            del images
        for name, array in (("present", rendered.present), ("labels", labels)):
            with atomic_open(entry / f"{name}.npy", "wb") as handle:
                np.save(handle, array)
        meta = {
            "edf": str(record.edf),
            "hypnogram": str(record.hypnogram),
            "n_epochs": int(labels.size),
            "render_config": self.config.fingerprint(),
        }
        with atomic_open(entry / "meta.json", "w") as handle:
            json.dump(meta, handle, indent=2)
